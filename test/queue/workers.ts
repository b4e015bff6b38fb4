import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from '../setup/ferry-bin.js';

/** A `ferry worker` child process, its output kept, its exit awaited. */
export interface WorkerProc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startWorker(env: NodeJS.ProcessEnv, args: string[] = []): WorkerProc {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

/** SIGTERM to each still running, and their exits. */
export async function stopWorkers(workers: readonly WorkerProc[]): Promise<Array<{ code: number | null; signal: NodeJS.Signals | null }>> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  return Promise.all(workers.map((w) => w.exited));
}

/** The ferry run child, collecting its output. */
export function startFerry(env: NodeJS.ProcessEnv, args: string[]): WorkerProc {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}
