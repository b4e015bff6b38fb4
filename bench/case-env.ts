/**
 * The case study on a throwaway embedded PostgreSQL, driven through the `ferry` binary as a
 * person would: shared by `npm run bench:cli` and `npm run bench:seed`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.js';
import { DEMO_DESCRIPTION, createLegacyDatabase, createTargetDatabase } from '../src/demo/seed-case.js';

export const BIN = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', 'bin', 'ferry.js');

export const say = (line: string) => process.stdout.write(`${line}\n`);

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export interface FerryResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time, spawn to exit. */
  ms: number;
  /** CPU time (user + system) of the ferry process: steadier than wall time on a busy machine. */
  cpuMs: number;
}

/** Preloaded into each spawned ferry: writes its own CPU time at exit to the file it is given. */
const CPU_PROBE = `data:text/javascript,${encodeURIComponent(
  "import { writeFileSync } from 'node:fs'; process.on('exit', () => { const u = process.cpuUsage(); writeFileSync(process.env.FERRY_BENCH_CPU_FILE, String((u.user + u.system) / 1000)); });",
)}`;

export interface CaseEnv {
  env: NodeJS.ProcessEnv;
  pg: EmbeddedServer;
  /** Spawns `node bin/ferry.js …` and times it from spawn to exit. */
  ferry(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<FerryResult>;
  /** `ferry plan` of the case study; the plan file's path. */
  plan(): Promise<string>;
  close(): Promise<void>;
}

export async function startCase(): Promise<CaseEnv> {
  const pg = await startEmbeddedPostgres();
  const home = await mkdtemp(join(tmpdir(), 'ferry-bench-home-'));
  try {
    await pg.createDatabase('legacy');
    await pg.createDatabase('target');
    await createLegacyDatabase(pg.url('legacy'));
    await createTargetDatabase(pg.url('target'));
  } catch (e) {
    await pg.stop();
    throw e;
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SOURCE_DATABASE_URL: pg.url('legacy'),
    TARGET_DATABASE_URL: pg.url('target'),
    FERRY_HOME: home,
    FERRY_USER: 'bench',
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
  };
  let spawned = 0;
  const ferry = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const cpuFile = join(home, `cpu-${++spawned}`);
    const r = await new Promise<Omit<FerryResult, 'cpuMs'>>((done) => {
      const t0 = performance.now();
      execFile(process.execPath, ['--import', CPU_PROBE, BIN, ...args], { env: { ...env, ...extraEnv, FERRY_BENCH_CPU_FILE: cpuFile }, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        done({ code, stdout, stderr, ms: performance.now() - t0 });
      });
    });
    return { ...r, cpuMs: Number(await readFile(cpuFile, 'utf8').catch(() => 'NaN')) };
  };
  return {
    env,
    pg,
    ferry,
    async plan() {
      const r = await ferry(['plan', DEMO_DESCRIPTION]);
      const path = /Plan written to (\S+\.json)/.exec(r.stdout)?.[1];
      if (r.code !== 0 || !path) throw new Error(`ferry plan failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      return path;
    },
    async close() {
      await pg.stop();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Fails loudly: a benchmark of a command that failed measures nothing. */
export function expectOk(r: FerryResult, what: string): FerryResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}
