import pg from 'pg';
import type { FilterCondition, SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import { CORPUS, EVAL_NOW, type CorpusCase, type ExpectedReading } from './corpus.js';
import { SCHEMA_PAIRS, type CorpusSchema } from './schemas.js';

/** What a reader made of one description: a reading (with what it flagged), or a refusal. */
export type Outcome =
  | {
      kind: 'reading';
      tables: Array<[string, string]>;
      filters: FilterCondition[];
      derive: Record<string, string>;
      map: Record<string, string>;
      /** Review items about words the reader did not read, each quoting them. */
      flagged: string[];
    }
  | { kind: 'refused'; message: string };

export type Reader = (input: { text: string; analysis: SchemaAnalysis; source: pg.Client; now: Date }) => Promise<Outcome & { spans?: string[] }>;
export type Verdict = 'correct' | 'flagged' | 'refused' | 'wrong';

const literal = (v: string | number | boolean): string => (typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v));
const sortValues = (vs: Array<string | number>) => [...vs].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));

/** Conditions as one normalized predicate: several `<>` on one column become NOT IN, one-item IN becomes `=`. */
export function normalizePredicate(filters: FilterCondition[]): string {
  const parts: string[] = [];
  const excluded = new Map<string, Array<string | number>>();
  for (const f of filters) {
    if (f.op === 'is_null' || f.op === 'is_not_null') {
      parts.push(`${f.column} ${f.op === 'is_null' ? 'IS NULL' : 'IS NOT NULL'}`);
    } else if (f.op === 'in') {
      parts.push(f.value.length === 1 ? `${f.column} = ${literal(f.value[0]!)}` : `${f.column} IN (${sortValues(f.value).map(literal).join(', ')})`);
    } else if ('value' in f) {
      if (f.op === '<>' && typeof f.value !== 'boolean') excluded.set(f.column, [...(excluded.get(f.column) ?? []), f.value]);
      else parts.push(`${f.column} ${f.op} ${literal(f.value)}`);
    }
  }
  for (const [column, values] of excluded) {
    parts.push(values.length === 1 ? `${column} <> ${literal(values[0]!)}` : `${column} NOT IN (${sortValues(values).map(literal).join(', ')})`);
  }
  return [...new Set(parts)].sort().join(' AND ');
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (r: Record<string, string> | undefined) => Object.fromEntries(Object.entries(r ?? {}).sort());

/** The parts of an expected reading the outcome got, and whether it stated anything the expectation does not hold. */
function compare(expected: ExpectedReading, got: Extract<Outcome, { kind: 'reading' }>): { equal: boolean; statedWrong: string[] } {
  const statedWrong: string[] = [];
  if (!same(got.tables, expected.tables)) statedWrong.push(`tables ${JSON.stringify(got.tables)} (expected ${JSON.stringify(expected.tables)})`);
  const want = new Set(expected.filter ? expected.filter.split(' AND ') : []);
  const have = normalizePredicate(got.filters);
  for (const part of have ? have.split(' AND ') : []) if (!want.has(part)) statedWrong.push(`filter "${part}" (expected "${expected.filter}")`);
  for (const [k, v] of Object.entries(got.derive)) if (expected.derive?.[k] !== v) statedWrong.push(`derivation ${k} = ${v}`);
  for (const [k, v] of Object.entries(got.map)) if (expected.map?.[k] !== v) statedWrong.push(`value map ${k} → ${v}`);
  const equal = statedWrong.length === 0 && have === expected.filter && same(sorted(got.derive), sorted(expected.derive)) && same(sorted(got.map), sorted(expected.map));
  return { equal, statedWrong };
}

/**
 * correct: the expected reading with nothing left to review, or a refusal/question where one
 * is expected (saying the expected words); flagged: incomplete but every gap flagged, nothing
 * wrong stated; refused: an expected reading refused; wrong: a reading that states something
 * the expectation does not hold, or misses something without a word flagged.
 */
export function judge(c: CorpusCase, got: Outcome): { verdict: Verdict; why: string } {
  const e = c.expected;
  if (e.kind === 'refuse') {
    if (got.kind === 'reading' && got.flagged.length === 0) return { verdict: 'wrong', why: `expected a refusal (${e.why}); got a reading with nothing flagged` };
    const said = got.kind === 'refused' ? got.message : got.flagged.join(' | ');
    const missing = (e.says ?? []).filter((w) => !said.toLowerCase().includes(w.toLowerCase()));
    if (missing.length) return { verdict: got.kind === 'refused' ? 'refused' : 'flagged', why: `did not name ${missing.map((m) => `"${m}"`).join(', ')}: ${said}` };
    return { verdict: 'correct', why: '' };
  }
  if (got.kind === 'refused') return { verdict: 'refused', why: got.message };
  const { equal, statedWrong } = compare(e, got);
  if (statedWrong.length) return { verdict: 'wrong', why: statedWrong.join('; ') + (got.flagged.length ? ` (flagged: ${got.flagged.join(' | ')})` : '') };
  if (equal && got.flagged.length === 0) return { verdict: 'correct', why: '' };
  if (got.flagged.length) return { verdict: 'flagged', why: got.flagged.join(' | ') };
  return { verdict: 'wrong', why: `read filter "${normalizePredicate(got.filters)}", expected "${e.filter}", nothing flagged` };
}

export interface EvalResult {
  counts: Record<Verdict, number>;
  total: number;
  misses: string[];
  line: string;
}

/** Reads every description of the corpus against its schema pair (databases given by URL). */
export async function evaluate(urls: Record<CorpusSchema, { source: string; target: string }>, read: Reader, options: { now?: Date; show?: string } = {}): Promise<EvalResult> {
  const now = options.now ?? EVAL_NOW;
  const counts: Record<Verdict, number> = { correct: 0, flagged: 0, refused: 0, wrong: 0 };
  const misses: string[] = [];
  for (const pair of SCHEMA_PAIRS) {
    const source = new pg.Client({ connectionString: urls[pair.name].source });
    const target = new pg.Client({ connectionString: urls[pair.name].target });
    await Promise.all([source.connect(), target.connect()]);
    try {
      const analysis = await analyzeSchemas({ source, target });
      for (const c of CORPUS.filter((x) => x.schema === pair.name)) {
        let got: Outcome & { spans?: string[] };
        try {
          got = await read({ text: c.text, analysis, source, now });
        } catch (e) {
          got = { kind: 'refused', message: e instanceof Error ? e.message : String(e) };
        }
        const { verdict, why } = judge(c, got);
        if (options.show !== undefined && c.text.includes(options.show)) misses.push(`show [${c.schema}] ${JSON.stringify(c.text)}:\n    ${(got.kind === 'reading' ? got.spans ?? [] : [got.message]).join('\n    ')}`);
        counts[verdict]++;
        if (verdict !== 'correct') misses.push(`${verdict.padEnd(7)} [${c.schema}] ${JSON.stringify(c.text)}: ${why}`);
      }
    } finally {
      await Promise.allSettled([source.end(), target.end()]);
    }
  }
  const total = CORPUS.length;
  const line = `descriptions: correct ${counts.correct}, flagged ${counts.flagged}, refused ${counts.refused}, wrong ${counts.wrong} of ${total}`;
  return { counts, total, misses, line };
}

/** Creates the corpus's database pairs through `create` (a fresh database's URL per name). */
export async function createCorpusDatabases(create: (name: string) => Promise<string>): Promise<Record<CorpusSchema, { source: string; target: string }>> {
  const out = {} as Record<CorpusSchema, { source: string; target: string }>;
  for (const pair of SCHEMA_PAIRS) {
    const source = await create(`desc_${pair.name}_src`);
    const target = await create(`desc_${pair.name}_tgt`);
    await pair.createSource(source);
    await pair.createTarget(target);
    out[pair.name] = { source, target };
  }
  return out;
}
