import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'vitest';

export const BIN = resolve(__dirname, '../../bin/ferry.js');

export async function runFerry(env: NodeJS.ProcessEnv, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = execFile(process.execPath, [BIN, ...args], { env, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/** The environment a CLI test gives `ferry`: both databases, a private FERRY_HOME, a named user. */
export function cliEnv(db: { sourceUrl: string; targetUrl: string }, home: string, user: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SOURCE_DATABASE_URL: db.sourceUrl,
    TARGET_DATABASE_URL: db.targetUrl,
    FERRY_HOME: home,
    FERRY_USER: user,
    ...extra,
  };
}

/** `ferry plan` then `ferry approve` (with `decisions`, e.g. --column flags), as a person does; both must succeed. */
export async function planAndApprove(env: NodeJS.ProcessEnv, description: string, decisions: string[] = []): Promise<{ planPath: string; planned: string }> {
  const planned = await runFerry(env, ['plan', description]);
  expect(planned.code, planned.stdout + planned.stderr).toBe(0);
  const planPath = /written to (\S+\.json)/.exec(planned.stdout)![1]!;
  const approved = await runFerry(env, ['approve', planPath, ...decisions]);
  expect(approved.code, approved.stdout + approved.stderr).toBe(0);
  return { planPath, planned: planned.stdout };
}

/** planAndApprove, then `ferry run`, which must complete and pass validation; returns what `ferry plan` printed. */
export async function planApproveRun(env: NodeJS.ProcessEnv, description: string, decisions: string[] = []): Promise<string> {
  const { planPath, planned } = await planAndApprove(env, description, decisions);
  const ran = await runFerry(env, ['run', planPath]);
  expect(ran.code, ran.stdout + ran.stderr).toBe(0);
  expect(ran.stdout).toContain('ALL VALIDATIONS PASSED');
  return planned;
}
