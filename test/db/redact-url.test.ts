import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.js';
import { describeError, FerryError } from '../../src/core/errors.js';
import { runFerry } from '../setup/ferry-bin.js';

/** The shared test server's URL with another user's wrong credentials, given both ways. */
function withSecrets(): string {
  const u = new URL(inject('pgAdminUrl'));
  u.username = 'ledger_clerk';
  u.password = 'userinfo-Pa55';
  u.searchParams.set('password', 'param-s3cret');
  u.searchParams.set('sslpassword', 'key-phrase-9');
  return u.toString();
}

const SECRETS = ['userinfo-Pa55', 'param-s3cret', 'key-phrase-9'];

describe('passwords in connection strings', () => {
  it('never appear in the error of a real connection the server refuses', async () => {
    const url = withSecrets();
    const error = await connect(url, 'target').then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('DB_CONNECT_FAILED');
    const text = `${describeError(error)}\n${JSON.stringify(error)}`;
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(text).toContain('ledger_clerk:***@');
    expect(text).toContain('password=***');
    expect(text).toContain('sslpassword=***');
  });

  it('never appear in what the ferry command prints when it cannot connect', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ferry-redact-'));
    try {
      const url = withSecrets();
      const r = await runFerry({ PATH: process.env.PATH, HOME: process.env.HOME, FERRY_HOME: home, SOURCE_DATABASE_URL: url, TARGET_DATABASE_URL: url }, ['plan', 'move the clerks']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('DB_CONNECT_FAILED');
      for (const s of SECRETS) expect(`${r.stdout}${r.stderr}`).not.toContain(s);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
