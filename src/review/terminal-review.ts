import type { PlanOverrides } from '../../agents/planning/index.js';
import { reviewItems, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import { renderPlan } from '../present/render.js';
import { diffPlans } from './plan-diff.js';

/**
 * `ferry review <plan>`: the flagged decisions one question at a time, then approve, reject
 * or leave as a draft. Reads whole lines from any source (a terminal, or answers piped to
 * stdin); the end of input answers "skip" / "no", so a short script never approves by
 * accident.
 */
export interface TerminalReviewInput {
  plan: MigrationPlan;
  /** Answers, one per line. */
  lines: AsyncIterator<string>;
  write: (text: string) => void;
  /** Applies the reviewer's choices (grounded against the data) and returns the next revision. */
  applyOverrides: (plan: MigrationPlan, overrides: PlanOverrides) => Promise<MigrationPlan>;
  /** Approves or rejects a revision (the caller records who and when). */
  approve: (plan: MigrationPlan) => MigrationPlan;
  reject: (plan: MigrationPlan, note: string) => MigrationPlan;
}

export interface TerminalReviewResult {
  /** Every revision made during the review, in order (the last is the outcome). */
  revisions: MigrationPlan[];
  outcome: 'approved' | 'rejected' | 'draft';
}

type Choose = (question: string, options: Array<{ value: string; label: string }>) => Promise<string | null>;

/** Questions over the answer lines: each answer echoed; after the last line every answer is empty. */
function prompter(input: Pick<TerminalReviewInput, 'write' | 'lines'>): { ask: (question: string) => Promise<string>; choose: Choose } {
  const { write } = input;
  let ended = false;
  const ask = async (question: string): Promise<string> => {
    write(question);
    if (ended) {
      write('\n');
      return '';
    }
    const next = await input.lines.next();
    if (next.done) {
      ended = true;
      write('\n');
      return '';
    }
    const answer = next.value.trim();
    // Piped answers are not echoed by a terminal; echo them so the transcript reads whole.
    write(`${answer}\n`);
    return answer;
  };
  /** A choice by number or by name; empty skips; anything else asks again. */
  const choose: Choose = async (question, options) => {
    const menu = options.map((o, i) => `    [${i + 1}] ${o.label}`).join('\n');
    for (;;) {
      const a = await ask(`${question}\n${menu}\n  choice (number or name, empty to skip): `);
      if (a === '') return null;
      const byNumber = Number(a);
      if (Number.isInteger(byNumber) && byNumber >= 1 && byNumber <= options.length) return options[byNumber - 1]!.value;
      const byName = options.find((o) => o.value === a);
      if (byName) return byName.value;
      write(`  "${a}" is not one of the choices\n`);
    }
  };
  return { ask, choose };
}

/** Every open enum value and reference, asked in turn; skipped ones stay open. */
async function askDecisions(plan: MigrationPlan, choose: Choose): Promise<Required<Pick<PlanOverrides, 'map' | 'mapNull' | 'fk'>>> {
  const overrides: Required<Pick<PlanOverrides, 'map' | 'mapNull' | 'fk'>> = { map: [], mapNull: [], fk: [] };
  for (const m of plan.enumMappings) {
    for (const v of m.values.filter((x) => x.status === 'needs_review')) {
      const alternatives = v.alternatives.length ? ` (rules proposed: ${v.alternatives.map((a) => `${a.target} by ${a.rule}`).join(', ')})` : '';
      const picked = await choose(
        `⚠ ${m.targetColumn}: source value ${JSON.stringify(v.source)} (${v.count} rows) — ${v.detail}${alternatives}. Which ${m.enumType} value?`,
        m.enumValues.map((e) => ({ value: e, label: e })),
      );
      // A NULL is not a value --map can name: it has its own override.
      if (picked !== null && v.source === null) overrides.mapNull.push({ target: picked, column: m.targetColumn });
      else if (picked !== null) overrides.map.push({ source: v.source!, target: picked, column: m.targetColumn });
    }
  }
  for (const fk of plan.foreignKeys.filter((f) => f.status === 'needs_review' || f.value === null)) {
    const picked = await choose(
      `⚠ ${fk.column} → ${fk.refTable}.${fk.refColumn}: ${fk.reason}. Which row?`,
      fk.candidates.map((c) => ({ value: c.value, label: `${c.label} (${c.value})` })),
    );
    if (picked !== null) overrides.fk.push({ column: fk.column, value: picked });
  }
  return overrides;
}

export async function reviewAtTerminal(input: TerminalReviewInput): Promise<TerminalReviewResult> {
  const { write } = input;
  const { ask, choose } = prompter(input);

  let plan = input.plan;
  const revisions: MigrationPlan[] = [];
  write(`${renderPlan(plan)}\n\n`);
  if (plan.status !== 'draft') {
    write(`Revision ${plan.revision} is already ${plan.status}; nothing to review.\n`);
    return { revisions, outcome: plan.status === 'approved' ? 'approved' : 'rejected' };
  }

  const overrides = await askDecisions(plan, choose);
  if (overrides.map.length + overrides.mapNull.length + overrides.fk.length > 0) {
    const next = await input.applyOverrides(plan, overrides);
    write(`\nRevision ${next.revision}:\n${diffPlans(plan, next).map((c) => `  ${c.subject}: ${c.from} → ${c.to}`).join('\n')}\n`);
    revisions.push(next);
    plan = next;
  }

  const open = reviewItems(plan);
  if (open.length > 0) {
    write(`\n${open.length} decision(s) still open; revision ${plan.revision} stays a draft:\n${open.map((i) => `  ⚠ ${i}`).join('\n')}\n`);
    return { revisions, outcome: 'draft' };
  }
  const answer = (await ask(`\nApprove revision ${plan.revision}? [y]es / [n]o, leave it a draft / [r]eject: `)).toLowerCase();
  if (answer === 'y' || answer === 'yes') {
    plan = input.approve(plan);
    revisions.push(plan);
    write(`✅ revision ${plan.revision} approved by ${plan.approvedBy ?? '?'}\n`);
    return { revisions, outcome: 'approved' };
  }
  if (answer === 'r' || answer === 'reject') {
    const note = await ask('  why (kept with the decision)? ');
    plan = input.reject(plan, note);
    revisions.push(plan);
    write(`✖ revision ${plan.revision} rejected\n`);
    return { revisions, outcome: 'rejected' };
  }
  write(`revision ${plan.revision} left as a draft\n`);
  return { revisions, outcome: 'draft' };
}
