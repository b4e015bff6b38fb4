import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides } from '../../agents/planning/index.js';
import { parseCommandArgs } from '../../src/cli/args.js';
import { approveCmd, overridesFrom } from '../../src/cli/commands/approve.js';
import { reviewDecisions, reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, describeToPlans, openConnections, targetTableOf, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { createFkCase } from '../fk/fk-case.js';
import { createRenamedCase } from '../relationships/renamed-case.js';
import { createSeedCase, type DatabasePair } from '../setup/seed-case.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from './workshop-case.js';

/**
 * Every resolution command the plans of the test suite print is one the CLI accepts: each is
 * filled in (`<plan>`, each alternative of `<a|b>`, a source column, a constant of the
 * column's type, a candidate parent), split into words by a real POSIX shell, parsed by
 * `ferry approve`'s own argument parser and applied to the plan against the real databases;
 * none may be refused, and each must settle the item it was printed for.
 */

interface Planned {
  name: string;
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  conn: Connections;
}

/** The words a POSIX shell makes of a command line (the suggestion's quoting, read as a person's shell reads it). */
function shellWords(line: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

const CONSTANT_BY_TYPE: Array<[RegExp, string]> = [
  [/^(integer|bigint|smallint|numeric)/, '1'],
  [/^boolean/, 'true'],
  [/^(date|timestamp)/, '2020-01-01'],
  [/^uuid/, '00000000-0000-4000-8000-000000000001'],
];

/** Each way to fill a suggested command's placeholders: one line per alternative of a `<a|b>` choice. */
function fillings(command: string, plan: MigrationPlan): string[] {
  let line = command.replace('<plan>', 'plan.json');
  const column = /--column (\S+?)=/.exec(line)?.[1];
  if (column) {
    const type = plan.columns.find((c) => c.target === column)?.targetType ?? 'text';
    line = line.replace('<source column>', plan.source.key).replace('<value>', CONSTANT_BY_TYPE.find(([re]) => re.test(type))?.[1] ?? 'x');
  }
  const fk = /--fk (\S+?)=<[^>]+>/.exec(line);
  if (fk) line = line.replace(/=<[^>]+>/, `=${plan.foreignKeys.find((f) => f.column === fk[1])!.candidates[0]!.value}`);
  const choice = /<([^<>]*\|[^<>]*)>/.exec(line);
  const lines = choice ? choice[1]!.split('|').map((alt) => line.replace(choice[0], alt)) : [line];
  for (const l of lines) if (/<[^>]*>/.test(l)) throw new Error(`a placeholder this test cannot fill: ${l}`);
  return lines;
}

describe('every resolution command a plan suggests is accepted by ferry approve', () => {
  const pairs: DatabasePair[] = [];
  const conns: Connections[] = [];
  const planned: Planned[] = [];
  const open = async (db: DatabasePair) => {
    pairs.push(db);
    const conn = await openConnections(db.legacy.url, db.target.url);
    conns.push(conn);
    return conn;
  };
  beforeAll(async () => {
    // The case study, with one role no rule knows.
    const seed = await createSeedCase();
    await seed.sql('legacy', `INSERT INTO dispatch_role (name, abbrev, group_id) VALUES ('Night Floater', 'NF', 11)`);
    const seedConn = await open(seed);
    planned.push({ name: 'case study', conn: seedConn, ...(await describeToPlan({ description: DEMO_DESCRIPTION, conn: seedConn })) });
    // A NULL enum value, unknown values, a value spelled with *.
    const workshopConn = await open(await createWorkshopCase());
    planned.push({ name: 'workshop', conn: workshopConn, ...(await describeToPlan({ description: WORKSHOP_DESCRIPTION, conn: workshopConn })) });
    // FK orphans (a via-mapping reference needing review).
    const fkConn = await open(await createFkCase());
    for (const p of (await describeToPlans({ description: 'Migrate employees, then customers, then invoices.', conn: fkConn }))!) planned.push({ name: `fk ${p.plan.source.table}`, conn: fkConn, plan: p.plan, analysis: p.analysis });
    // Required columns with no source, an unresolved reference (renamed tables).
    const renamedConn = await open(await createRenamedCase());
    for (const d of ['move the rows from customer into customers', 'move the rows from employee into staff_members', 'move the rows from ticket into tickets']) {
      planned.push({ name: d, conn: renamedConn, ...(await describeToPlan({ description: d, conn: renamedConn })) });
    }
  });
  afterAll(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await Promise.allSettled(pairs.map((p) => p.drop()));
  });

  it('the plans print suggestions of every kind: --map, --map-null, --exclude, --exclude-null, --column, --orphans', () => {
    const all = planned.flatMap((p) => reviewDecisions(p.plan).flatMap((d) => d.commands)).join('\n');
    for (const flag of ['--map ', '--map-null ', '--exclude ', '--exclude-null ', '--column ', '--orphans ']) expect(all).toContain(flag);
    // The printed review items carry exactly these commands.
    for (const p of planned) {
      const items = reviewItems(p.plan);
      reviewDecisions(p.plan).forEach((d, i) => d.commands.forEach((c) => expect(items[i]).toContain(c)));
    }
  });

  it('narrowing the filter to leave the orphan rows out (as the orphan hint says) settles the orphan item', async () => {
    const p = planned.find((x) => x.name === 'fk invoices')!;
    const about = reviewDecisions(p.plan).map((d) => d.about);
    expect(about.some((a) => a.startsWith('customer_id:'))).toBe(true);
    const probe = createPlanProbe(p.conn.source, p.conn.target);
    // Still one orphan (customer 98) under this filter: the item stays.
    const partly = await applyOverrides(p.plan, { where: ['customer_id <> 99'] }, 't', probe, new Date(), () => true, p.analysis);
    expect(reviewDecisions(partly).some((d) => d.about.startsWith('customer_id:'))).toBe(true);
    const next = await applyOverrides(p.plan, { where: ['customer_id < 90'] }, 't', probe, new Date(), () => true, p.analysis);
    expect(next.source.rowCount).toBe(8);
    expect(reviewDecisions(next).some((d) => d.about.startsWith('customer_id:'))).toBe(false);
    expect(next.columns.find((c) => c.target === 'customer_id')).toMatchObject({ status: 'mapped', origin: { onOrphan: 'fail' } });
    expect(next.overrides.at(-1)!.what).toBe('customer_id: no orphan left under the filter (no longer to review)');
  });

  it('each, filled in, parses and applies against the real data, and settles its item', async () => {
    const tried: string[] = [];
    for (const p of planned) {
      const target = targetTableOf(p.plan, p.analysis);
      const nullable = (c: string) => target.columns.find((x) => x.name === c)?.nullable;
      for (const d of reviewDecisions(p.plan)) {
        for (const command of d.commands) {
          for (const line of fillings(command, p.plan)) {
            const words = shellWords(line);
            expect(words.slice(0, 2), line).toEqual(['ferry', 'approve']);
            const { values, positionals } = parseCommandArgs(approveCmd, words.slice(2));
            expect(positionals).toEqual(['plan.json']);
            const next = await applyOverrides(p.plan, overridesFrom(values), 'suggestion-test', createPlanProbe(p.conn.source, p.conn.target), new Date(), nullable, p.analysis).catch((e: unknown) => {
              throw new Error(`${p.name}: "${line}" was refused: ${(e as Error).message}`, { cause: e });
            });
            expect(reviewDecisions(next).map((x) => x.about), `${p.name}: ${line}`).not.toContain(d.about);
            tried.push(line);
          }
        }
      }
    }
    // Printed as figures: how many commands were run through the parser and the data.
    console.log(`suggested commands accepted: ${tried.length} across ${planned.length} plans`);
    expect(tried.length).toBeGreaterThan(40);
  });
});
