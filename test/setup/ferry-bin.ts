import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

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
