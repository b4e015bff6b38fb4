import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeToPlanOrSet, openConnections, type Connections } from '../../src/chain.js';
import { PlanSet } from '../../src/core/artifacts/migration-plan.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { SCHEMA_PAIRS, type CorpusSchema } from './schemas.js';

/**
 * Plan sets come from the reading: the table pairs it bound (ordered by its order words and
 * the FK graph), in any of the reader's languages; an "and" inside a filter or a derivation
 * binds no second pair, so a single move is never split.
 */
describe('plan sets decided by the reading', () => {
  const dbs: TestDatabase[] = [];
  const urls = {} as Record<CorpusSchema, { source: string; target: string }>;
  const conns = {} as Record<CorpusSchema, Connections>;

  beforeAll(async () => {
    for (const name of ['library', 'music'] as const) {
      const pair = SCHEMA_PAIRS.find((p) => p.name === name)!;
      const [src, tgt] = [await createTestDatabase(`sets_${name}_src`), await createTestDatabase(`sets_${name}_tgt`)];
      dbs.push(src, tgt);
      await pair.createSource(src.url);
      await pair.createTarget(tgt.url);
      urls[name] = { source: src.url, target: tgt.url };
      conns[name] = await openConnections(src.url, tgt.url);
    }
  });
  afterAll(async () => {
    await Promise.allSettled(Object.values(conns).map((c) => c.close()));
    await Promise.allSettled(dbs.map((d) => d.drop()));
  });

  const tablesOf = async (schema: CorpusSchema, description: string) => {
    const made = await describeToPlanOrSet({ description, conn: conns[schema] });
    return made.kind === 'set' ? made.planned.map((p) => `${p.plan.source.table} → ${p.plan.target.table}`) : [`one plan: ${made.plan.source.table} → ${made.plan.target.table}`];
  };

  it('makes a plan set of "then", "erst … dann", "primero … y luego", in parents-first order', async () => {
    const parentsFirst = ['branch → libraries', 'member → patrons'];
    expect(await tablesOf('library', 'Move members into patrons, then branch into libraries')).toEqual(parentsFirst);
    expect(await tablesOf('library', 'Migriere erst branch nach libraries, dann member nach patrons')).toEqual(parentsFirst);
    expect(await tablesOf('library', 'Migra primero branch a libraries y luego member a patrons')).toEqual(parentsFirst);
    expect(await tablesOf('music', 'Move employees into staff_members, then customers')).toEqual(['employee → staff_members', 'customer → customers']);
    expect(await tablesOf('music', 'Migra customers e invoices')).toEqual(['customer → customers', 'invoice → invoices']);
  });

  it('records the words that made the set as order spans of the reading', async () => {
    const orderWords = async (schema: CorpusSchema, description: string) => {
      const made = await describeToPlanOrSet({ description, conn: conns[schema] });
      if (made.kind !== 'set') return null;
      return made.planned[0]!.plan.reading!.artifact.spans.filter((s) => s.binding.kind === 'order').map((s) => s.text);
    };
    expect(await orderWords('library', 'Migriere erst branch nach libraries, dann member nach patrons')).toEqual(['erst', 'dann']);
    expect(await orderWords('library', 'Migra primero branch a libraries y luego member a patrons')).toEqual(['primero', 'luego']);
    expect(await orderWords('music', 'Migra customers e invoices')).toEqual(['e']);
    expect(await orderWords('music', 'Move customers and invoices')).toEqual(['and']);
  });

  it('never splits a single move whose filter, instruction or derivation holds "and", "y", "und" or a comma', async () => {
    const made = await describeToPlanOrSet({ description: 'Migra member a patrons, branches 1 y 2', conn: conns.library });
    expect(made.kind).toBe('plan');
    if (made.kind !== 'plan') return;
    expect(made.plan.source.filters).toEqual([{ column: 'branch_id', op: 'in', value: [1, 2] }]);
    expect(await tablesOf('library', 'Migriere member nach patrons, branch 1 und 2, email kleingeschrieben')).toEqual(['one plan: member → patrons']);
    expect(await tablesOf('library', 'Move member into patrons and map BASIC to basic, email lowercased')).toEqual(['one plan: member → patrons']);
    expect(await tablesOf('music', 'Move the employees into staff_members, full name from first and last name')).toEqual(['one plan: employee → staff_members']);
  });

  it('ferry plan writes a plan set for "primero X y luego Y" and one plan for a list of values', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ferry-vocab-sets-'));
    try {
      const env = cliEnv({ sourceUrl: urls.library.source, targetUrl: urls.library.target }, home, 'vocab-test');
      const set = await runFerry(env, ['plan', 'Migra primero branch a libraries y luego member a patrons']);
      expect(set.stderr).toBe('');
      expect(set.code).toBe(0);
      const setPath = /Plan set written to (\S+):/.exec(set.stdout)?.[1];
      expect(setPath).toBeDefined();
      const written = PlanSet.parse(JSON.parse(await readFile(setPath!, 'utf8')));
      expect(written.plans.map((p) => p.targetTable)).toEqual(['public.libraries', 'public.patrons']);

      const single = await runFerry(env, ['plan', 'Migriere member nach patrons, branch 1 und 2']);
      expect(single.stderr).toBe('');
      expect(single.code).toBe(0);
      expect(single.stdout).not.toContain('Plan set written');
      expect(single.stdout).toMatch(/Plan written to \S+/);
      expect(single.stdout).toContain('branch_id IN (1, 2)');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
