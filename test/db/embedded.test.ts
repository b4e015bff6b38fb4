import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';

/** Whether anything accepts a TCP connection on host:port. */
function tcpAnswers(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connectTcp({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

/** What another local user (uid 1000) gets when it tries the server's socket. */
function asOtherUser(socketPath: string): Promise<string> {
  const script = `require('node:net').connect(process.argv[1]).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, socketPath], { uid: 1000, gid: 1000, cwd: '/', env: {} });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.once('error', reject);
    child.once('close', () => resolve(out.trim()));
  });
}

describe('the embedded PostgreSQL of the demo and ferry serve --demo', () => {
  let first: EmbeddedServer;
  let second: EmbeddedServer;

  beforeAll(async () => {
    first = await startEmbeddedPostgres();
    second = await startEmbeddedPostgres();
  });
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
  });

  it('has a fresh random password on every start', () => {
    const a = new URL(first.url('postgres')).password;
    const b = new URL(second.url('postgres')).password;
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(a).not.toBe(b);
    expect(a).not.toBe('ferry');
  });

  it('serves on a unix socket in a private directory, not in /tmp itself, and answers there', async () => {
    expect(first.tcp).toBe(false);
    expect(first.socketDir).not.toBe(tmpdir());
    expect(dirname(first.socketDir)).not.toBe('/tmp');
    const dir = await stat(first.socketDir);
    expect(dir.mode & 0o777).toBe(0o700);
    const socket = join(first.socketDir, `.s.PGSQL.${first.port}`);
    expect((await stat(socket)).isSocket()).toBe(true);
    await first.createDatabase('parts_ledger');
    expect(await query(first.url('parts_ledger'), 'SELECT current_database() AS db')).toEqual([{ db: 'parts_ledger' }]);
  });

  it('listens on no TCP address by default', async () => {
    expect(await query(first.url('postgres'), 'SHOW listen_addresses')).toEqual([{ listen_addresses: '' }]);
    expect(await tcpAnswers('127.0.0.1', first.port)).toBe('ECONNREFUSED');
    expect(await tcpAnswers('::1', first.port)).toMatch(/^(ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH)$/);
  });

  it.runIf(process.getuid?.() === 0)('keeps another local user away from the socket', async () => {
    expect(await asOtherUser(join(first.socketDir, `.s.PGSQL.${first.port}`))).toBe('EACCES');
  });

  it('listens on 127.0.0.1 only when asked, with the password still random', async () => {
    const withTcp = await startEmbeddedPostgres({ tcp: true });
    try {
      expect(withTcp.url('postgres')).toMatch(/^postgres:\/\/postgres:[0-9a-f]{48}@127\.0\.0\.1:\d+\/postgres$/);
      expect(await query(withTcp.url('postgres'), 'SHOW listen_addresses')).toEqual([{ listen_addresses: '127.0.0.1' }]);
      expect(await tcpAnswers('127.0.0.1', withTcp.port)).toBe('connected');
    } finally {
      await withTcp.stop();
    }
  });
});
