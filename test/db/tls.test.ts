import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConnections } from '../../src/chain.js';
import { connect } from '../../src/db/connect.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { withLibpqTls } from '../../src/db/tls.js';
import { FerryError } from '../../src/core/errors.js';

async function failure(p: Promise<unknown>): Promise<FerryError> {
  try {
    const c = await p;
    await (c as pg.Client).end();
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error('expected the connection to fail');
}

/** A CA of our own and a server certificate it signed, naming only "localhost" (not 127.0.0.1). */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Harbour Test Root', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:localhost\\n' > san.ext`], { cwd: dir });
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt');
  // Another CA, that signed nothing of this server's.
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Unrelated Root', '-keyout', 'other.key', '-out', 'other.pem');
}

describe('TLS as psql users expect it: sslmode, sslrootcert, PGSSLROOTCERT (embedded PostgreSQL with a self-signed CA)', () => {
  let server: EmbeddedServer;
  let dir: string;
  let base: URL;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-tls-'));
    makeCertificates(dir);
    server = await startEmbeddedPostgres({ tcp: true });
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      for (const f of ['', 'server.crt', 'server.key']) await chown(join(dir, f), uid, gid);
    }
    await chmod(join(dir, 'server.key'), 0o600);
    const admin = new pg.Client({ connectionString: server.url('postgres') });
    await admin.connect();
    try {
      await admin.query(`ALTER SYSTEM SET ssl_cert_file = '${join(dir, 'server.crt')}'`);
      await admin.query(`ALTER SYSTEM SET ssl_key_file = '${join(dir, 'server.key')}'`);
      await admin.query(`ALTER SYSTEM SET ssl = on`);
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
    base = new URL(server.url('postgres'));
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const url = (host: string, params: Record<string, string>) => {
    const u = new URL(base.toString());
    u.hostname = host;
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  };
  const sslIn = async (c: pg.Client) => (await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl;

  it('sslmode=require encrypts without verifying the CA, as in psql (pg alone would refuse the self-signed chain)', async () => {
    const c = await connect(url('127.0.0.1', { sslmode: 'require' }), 'target');
    try {
      expect(await sslIn(c)).toBe(true);
    } finally {
      await c.end();
    }
  });

  it('sslmode=verify-ca with sslrootcert checks the chain, not the host name; PGSSLROOTCERT stands in for sslrootcert', async () => {
    const c = await connect(url('127.0.0.1', { sslmode: 'verify-ca', sslrootcert: join(dir, 'ca.pem') }), 'target');
    expect(await sslIn(c)).toBe(true);
    await c.end();
    const conn = await openConnections(server.url('postgres'), url('localhost', { sslmode: 'verify-full' }), { tls: { sslRootCert: join(dir, 'ca.pem') } });
    try {
      expect(await sslIn(conn.target)).toBe(true);
    } finally {
      await conn.close();
    }
  });

  it('a certificate error names the setting that fixes it', async () => {
    const untrusted = await failure(connect(url('localhost', { sslmode: 'verify-full', sslrootcert: join(dir, 'other.pem') }), 'target'));
    expect(untrusted.code).toBe('DB_TLS_FAILED');
    expect(untrusted.hint).toMatch(/sslrootcert=\/path\/to\/ca\.pem to TARGET_DATABASE_URL or set PGSSLROOTCERT/);

    const wrongName = await failure(connect(url('127.0.0.1', { sslmode: 'verify-full', sslrootcert: join(dir, 'ca.pem') }), 'source'));
    expect(wrongName.code).toBe('DB_TLS_FAILED');
    expect(wrongName.hint).toMatch(/does not name the host in SOURCE_DATABASE_URL.*sslmode=verify-ca/);

    const missing = await failure(connect(url('localhost', { sslmode: 'verify-full', sslrootcert: join(dir, 'no-such-ca.pem') }), 'target'));
    expect(missing.code).toBe('DB_TLS_FAILED');
    expect(missing.hint).toMatch(/CA file named by sslrootcert .* does not exist/);
    expect(missing.message).not.toContain(base.password);
  });

  it('a URL without sslmode is passed through untouched; an explicit uselibpqcompat is left as written', () => {
    expect(withLibpqTls('postgres://u:p@db.example:5432/app')).toBe('postgres://u:p@db.example:5432/app');
    expect(withLibpqTls('postgres://u:p@db.example:5432/app?sslmode=verify-full&uselibpqcompat=false')).toBe(
      'postgres://u:p@db.example:5432/app?sslmode=verify-full&uselibpqcompat=false',
    );
    expect(withLibpqTls('postgres://u:p@db.example:5432/app?sslmode=require', { sslRootCert: '/etc/ssl/supabase.crt' })).toBe(
      'postgres://u:p@db.example:5432/app?sslmode=require&uselibpqcompat=true&sslrootcert=%2Fetc%2Fssl%2Fsupabase.crt',
    );
  });
});
