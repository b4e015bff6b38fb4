import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../setup/ferry-bin.js';

describe('ferry serve --demo', () => {
  let child: ChildProcess | undefined;
  let home: string | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('serves the embedded demo with a plan waiting for review, behind a token printed once', async () => {
    home = await mkdtemp(join(tmpdir(), 'ferry-serve-demo-'));
    const proc = spawn(process.execPath, [BIN, 'serve', '--demo', '--port', '0'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const ready = await new Promise<{ url: string; token: string }>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const url = /ferry serve: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
        const token = /API token \(generated now[^:]*: (\S+)/.exec(out)?.[1];
        if (url && token) resolve({ url, token });
      });
      proc.once('exit', (code) => reject(new Error(`ferry serve exited with ${code}\n${out}\n${err}`)));
    });
    expect(out).toContain('Demo plan');

    const unauth = await fetch(`${ready.url}/api/plans`);
    expect(unauth.status).toBe(401);
    const plans = await fetch(`${ready.url}/api/plans`, { headers: { authorization: `Bearer ${ready.token}` } });
    expect(plans.status).toBe(200);
    const body = (await plans.json()) as { plans: Array<{ status: string; sourceTable: string }> };
    expect(body.plans).toMatchObject([{ status: 'draft', sourceTable: 'public.dispatch_role' }]);
    const page = await fetch(`${ready.url}/`);
    expect(await page.text()).toContain('<script src="/app.js">');
    // pino request logs on stderr, as JSON lines.
    const requestLogs = () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'request');
    await expect.poll(() => requestLogs().map((l) => `${l.status} ${l.path}`)).toEqual(expect.arrayContaining(['401 /api/plans', '200 /api/plans', '200 /']));

    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(0);
  });
});
