import type { EnumValueMapping, RuleMatch } from '../../src/core/artifacts/migration-plan.js';
import { stem, tokens } from './words.js';

/**
 * Deciding the enum value for each distinct source value, with the rule that decided it.
 *
 * The case study's rules were substring tests with a silent fallback: `'st'` sent
 * "Master Technician" to sectioning and every unknown role became manufacturing. Here:
 * - rules match whole tokens, never substrings;
 * - abbreviations are learned from the data (a companion code column, like `abbrev`, next
 *   to a value whose words already name the enum value), not written into the tool;
 * - when rules disagree and no rule is clearly stronger, or no rule matches, the value
 *   is `needs_review`: a person decides; nothing is defaulted.
 */

export const RULE_CONFIDENCE = {
  exact: 1,
  word: 0.95,
  prefix_code: 0.9,
  synonym: 0.85,
  partial_word: 0.8,
  abbreviation: 0.75,
  initialism: 0.7,
} as const;
export type RuleId = keyof typeof RULE_CONFIDENCE;

/** A winner must beat a disagreeing rule by this much; otherwise a person decides. */
const MIN_MARGIN = 0.1;

/**
 * Generic English synonyms for common enum words. Only used when the target enum has the
 * word; a plan override covers anything domain-specific.
 */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  master: ['supervisor', 'foreman', 'chief'],
  quality: ['qa', 'qc', 'inspector', 'inspection', 'auditor'],
  admin: ['administrator', 'sysadmin'],
  manager: ['mgr'],
  remote: ['offsite', 'telecommute'],
};

export interface LearnedCode {
  code: string;
  target: string;
  /** The value it was learned from, for the reviewer. */
  from: string;
  via: 'companion' | 'initialism';
}

export interface EnumRuleContext {
  enumValues: readonly string[];
  /** Tokens that carry no meaning here (the enum type's and the target table's own words). */
  noise: ReadonlySet<string>;
  learned: ReadonlyMap<string, LearnedCode>;
}

interface WordRuleHit {
  target: string;
  rule: RuleId;
  detail: string;
}

/** Matches by the value's own words: exact, word, synonym, partial word (no learned codes). */
function wordMatches(value: string, ctx: Pick<EnumRuleContext, 'enumValues' | 'noise'>): WordRuleHit[] {
  const hits: WordRuleHit[] = [];
  const norm = tokens(value).join('_');
  const valueTokens = tokens(value).filter((t) => !ctx.noise.has(t));
  const stems = new Set(valueTokens.map(stem));
  for (const target of ctx.enumValues) {
    if (norm === tokens(target).join('_')) {
      hits.push({ target, rule: 'exact', detail: `value equals "${target}"` });
      continue;
    }
    const words = tokens(target);
    const present = words.filter((w) => stems.has(stem(w)));
    if (present.length === words.length) {
      hits.push({ target, rule: 'word', detail: `word${words.length > 1 ? 's' : ''} "${words.join(' ')}"` });
    } else if (present.length > 0) {
      hits.push({ target, rule: 'partial_word', detail: `word "${present.join(' ')}" of "${target}"` });
    }
    for (const w of words) {
      const syn = (SYNONYMS[w] ?? []).find((s) => valueTokens.includes(s));
      if (syn) hits.push({ target, rule: 'synonym', detail: `"${syn}" is a synonym of "${w}"` });
    }
  }
  return hits;
}

/** The single enum value a value's own words name (exactly, or every word of it by stem), or null when none or several. */
export function unambiguousByWords(value: string, ctx: Pick<EnumRuleContext, 'enumValues' | 'noise'>): string | null {
  const strong = wordMatches(value, ctx).filter((h) => h.rule === 'exact' || h.rule === 'word');
  const targets = new Set(strong.map((h) => h.target));
  return targets.size === 1 ? [...targets][0]! : null;
}

/**
 * Learns short codes from the data. With a companion code column (pairs of value and
 * code), a code next to a value whose words name one enum value stands for that value. With
 * none, the initials of such a value do ("Manufacturing Technician" → "mt"). A code that
 * would stand for two enum values is dropped: ambiguous evidence is no evidence.
 */
export function learnCodes(
  pairs: ReadonlyArray<{ value: string; code: string | null }>,
  ctx: Pick<EnumRuleContext, 'enumValues' | 'noise'>,
  hasCompanion: boolean,
): { learned: Map<string, LearnedCode>; dropped: string[] } {
  const seen = new Map<string, LearnedCode[]>();
  for (const { value, code } of pairs) {
    const target = unambiguousByWords(value, ctx);
    if (!target) continue;
    let c: string | null;
    if (hasCompanion) {
      c = code !== null && /^[A-Za-z0-9]{1,6}$/.test(code.trim()) ? code.trim().toLowerCase() : null;
    } else {
      const initials = tokens(value).map((t) => t[0]).join('');
      c = initials.length >= 2 ? initials : null;
    }
    if (!c || ctx.enumValues.includes(c)) continue;
    const list = seen.get(c) ?? [];
    list.push({ code: c, target, from: value, via: hasCompanion ? 'companion' : 'initialism' });
    seen.set(c, list);
  }
  const learned = new Map<string, LearnedCode>();
  const dropped: string[] = [];
  for (const [code, list] of seen) {
    const targets = new Set(list.map((l) => l.target));
    if (targets.size === 1) learned.set(code, list[0]!);
    else dropped.push(`${code.toUpperCase()} (${[...targets].join(' / ')})`);
  }
  return { learned, dropped };
}

export function allMatches(value: string, ctx: EnumRuleContext): RuleMatch[] {
  const matches: RuleMatch[] = wordMatches(value, ctx).map((h) => ({
    target: h.target,
    rule: h.rule,
    detail: h.detail,
    confidence: RULE_CONFIDENCE[h.rule],
  }));
  const prefix = /^\s*([A-Za-z0-9]{1,6})\s*-/.exec(value)?.[1]?.toLowerCase();
  const origin = (l: LearnedCode) =>
    l.via === 'companion' ? `code of "${l.from}"` : `initials of "${l.from}"`;
  for (const t of new Set(tokens(value))) {
    const l = ctx.learned.get(t);
    if (!l) continue;
    if (t === prefix) {
      matches.push({
        target: l.target,
        rule: 'prefix_code',
        detail: `prefix "${t.toUpperCase()}-" (${origin(l)})`,
        confidence: RULE_CONFIDENCE.prefix_code,
      });
    } else {
      const rule: RuleId = l.via === 'companion' ? 'abbreviation' : 'initialism';
      matches.push({ target: l.target, rule, detail: `token "${t.toUpperCase()}" (${origin(l)})`, confidence: RULE_CONFIDENCE[rule] });
    }
  }
  return matches.sort((a, b) => b.confidence - a.confidence);
}

/** The decision for one distinct source value. */
export function decideValue(value: string | null, count: number, ctx: EnumRuleContext): EnumValueMapping {
  if (value === null) {
    return {
      source: null,
      count,
      target: null,
      rule: null,
      detail: 'the source value is NULL',
      confidence: 0,
      status: 'needs_review',
      alternatives: [],
    };
  }
  const matches = allMatches(value, ctx);
  // Best match per target: the evidence for each candidate value.
  const best = new Map<string, RuleMatch>();
  for (const m of matches) if (!best.has(m.target)) best.set(m.target, m);
  const ranked = [...best.values()].sort((a, b) => b.confidence - a.confidence);
  const top = ranked[0];
  if (!top) {
    return {
      source: value,
      count,
      target: null,
      rule: null,
      detail: 'no rule matched',
      confidence: 0,
      status: 'needs_review',
      alternatives: [],
    };
  }
  const runnerUp = ranked[1];
  const alternatives = ranked.slice(1);
  // A sentence that happens to hold one enum word ("ask the master key holder before …") is
  // not named by it: when most of its words mean nothing to every rule, a person decides.
  // A code learned from the data (a prefix, an abbreviation) is structured evidence, not a stray word.
  const byWordsOnly = matches.every((m) => m.rule === 'word' || m.rule === 'partial_word' || m.rule === 'synonym');
  const known = knownWords(value, ctx);
  if (byWordsOnly && known.total >= 3 && known.known.length * 2 < known.total) {
    return {
      source: value,
      count,
      target: null,
      rule: null,
      detail: `only ${known.known.length} of its ${known.total} words (${known.known.map((w) => `"${w}"`).join(', ')}) mean anything to the rules; ${top.target} by ${top.rule} (${top.detail}) is a guess`,
      confidence: Math.round(top.confidence * (known.known.length / known.total) * 100) / 100,
      status: 'needs_review',
      alternatives: ranked,
    };
  }
  if (runnerUp && top.confidence - runnerUp.confidence < MIN_MARGIN) {
    return {
      source: value,
      count,
      target: null,
      rule: null,
      detail: `rules disagree: ${ranked.map((m) => `${m.target} by ${m.rule} (${m.detail})`).join(' vs ')}`,
      confidence: 0,
      status: 'needs_review',
      alternatives: ranked,
    };
  }
  return {
    source: value,
    count,
    target: top.target,
    rule: top.rule,
    detail: top.detail + (runnerUp ? `; outweighs ${runnerUp.target} by ${runnerUp.rule} (${runnerUp.detail})` : ''),
    // A weaker rule that disagrees still costs confidence: the reviewer should see it.
    confidence: Math.round((runnerUp ? top.confidence - 0.15 : top.confidence) * 100) / 100,
    status: 'mapped',
    alternatives,
  };
}

/** The value's meaningful words (noise set aside) and those some rule knows: an enum word's stem, a synonym, a learned code. */
function knownWords(value: string, ctx: EnumRuleContext): { known: string[]; total: number } {
  const words = tokens(value).filter((t) => !ctx.noise.has(t));
  const enumStems = new Set(ctx.enumValues.flatMap((v) => tokens(v).map(stem)));
  const synonyms = new Set(ctx.enumValues.flatMap((v) => tokens(v).flatMap((w) => SYNONYMS[w] ?? [])));
  const known = words.filter((w) => enumStems.has(stem(w)) || synonyms.has(w) || ctx.learned.has(w));
  return { known, total: words.length };
}
