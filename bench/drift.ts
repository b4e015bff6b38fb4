/**
 * `npm run bench:drift`: what a run's drift check reads of the databases before it starts,
 * against a schema of `--tables N` tables (default 800; ten columns each, a primary key, a
 * unique key, a foreign key to the table before, an enum column), on an embedded PostgreSQL.
 * Each read is timed on a new connection (a run's connection is new: its backend's catalog
 * caches are cold) and on one already used, median of 5:
 *
 *  - reference: the whole catalog (agents/schema-analysis readCatalog), what a run read before;
 *  - ferry: only the plan's tables, parents and enum types (src/orchestrator/drift.ts readDriftCatalogs).
 *
 * Prints both and their ratio. Not a test: it asserts nothing, it prints figures.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { readCatalog } from '../agents/schema-analysis/catalog.js';
import type { MigrationPlan } from '../src/core/artifacts/migration-plan.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { readDriftCatalogs } from '../src/orchestrator/drift.js';

const args = process.argv.slice(2);
const at = args.indexOf('--tables');
const TABLES = at >= 0 ? Number(args[at + 1]) : 800;
const RUNS = 5;
const say = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const server = await startEmbeddedPostgres();
try {
  await server.createDatabase('wide');
  const url = server.url('wide');
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query(`CREATE TYPE public.shade AS ENUM ('light', 'dark'); CREATE TYPE public.other_kind AS ENUM ('a', 'b')`);
  const ddl: string[] = [];
  for (let i = 0; i < TABLES; i++) {
    ddl.push(`CREATE TABLE public.t${i} (id bigserial PRIMARY KEY, code text NOT NULL DEFAULT '', n int, at timestamptz DEFAULT now(), amount numeric(10,2), label varchar(40), flag bool, doc jsonb, ref uuid UNIQUE, shade public.shade${i > 0 ? `, parent_id bigint REFERENCES public.t${i - 1}(id)` : ''})`);
  }
  for (let i = 0; i < ddl.length; i += 100) await setup.query(ddl.slice(i, i + 100).join(';'));
  await setup.end();
  // One plan's view: the source and target are both in this database here (a run reads each side's own).
  const mid = Math.floor(TABLES / 2);
  const plan = {
    source: { schema: 'public', table: `t${mid}` },
    target: { schema: 'public', table: `t${mid + 1}` },
    enumMappings: [{ enumType: 'public.shade', enumValues: ['light', 'dark'] }],
    foreignKeys: [{ refSchema: 'public', refTable: `t${mid}` }],
  } as unknown as MigrationPlan;

  const time = async (read: (c: pg.Client) => Promise<unknown>) => {
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        let t0 = performance.now();
        await read(c);
        cold.push(performance.now() - t0);
        t0 = performance.now();
        await read(c);
        warm.push(performance.now() - t0);
      } finally {
        await c.end();
      }
    }
    return { cold: median(cold), warm: median(warm) };
  };
  // Both sides of a run, as a run reads them: the source's and the target's catalog.
  const reference = await time(async (c) => Promise.all([readCatalog(c), readCatalog(c)]));
  const ferry = await time(async (c) => readDriftCatalogs({ source: c, target: c }, [plan]));
  say(`a run's drift check against ${TABLES.toLocaleString('en-US')} tables (both sides read on one database here), median of ${RUNS}:`);
  say(`  reference (the whole catalog, both sides): new connection ${reference.cold.toFixed(1)} ms, used connection ${reference.warm.toFixed(1)} ms`);
  say(`  ferry (the plan's tables, parents, enum types): new connection ${ferry.cold.toFixed(1)} ms, used connection ${ferry.warm.toFixed(1)} ms`);
  say(`ratio (ferry ÷ reference, new connection): ${(ferry.cold / reference.cold).toFixed(3)}`);
} finally {
  await server.stop();
}
