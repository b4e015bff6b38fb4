/**
 * Who may take the row stream: only the run's program. Another local user (uid 1000, the
 * sandbox's uid on many machines) races to the socket before the program, and so does a
 * root process without the run's secret; neither is sent a byte, the program's run still
 * completes with the right rows, and each refusal is in the run's log.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerDriver } from '../../sandbox/docker-driver.js';
import { LocalDriver } from '../../sandbox/local-driver.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { startWith } from './driver-suite.js';
import { bundleProgram, removeBundles } from './helpers.js';

const asRoot = process.getuid?.() === 0;

/** What a racer saw: every connection it made, the bytes it was sent, the errors it got. */
interface RaceReport {
  connected: number;
  bytes: number;
  received: string;
  errors: string[];
}

/**
 * Polls `parent` for run directories and connects to every run socket it can, sending a
 * "ready" frame with a guessed token (and one without), until `stop` says so. Runs as
 * whichever user starts it.
 */
const RACER = `
const { readdirSync } = require('node:fs');
const { connect } = require('node:net');
const parent = process.argv[1];
const report = { connected: 0, bytes: 0, received: '', errors: [] };
let stopping = false;
function attempt(path) {
  const s = connect(path);
  s.on('connect', () => {
    report.connected += 1;
    s.write(JSON.stringify({ v: 1, t: 'ready', token: 'f'.repeat(64) }) + '\\n');
  });
  s.on('data', (d) => { report.bytes += d.length; report.received += d.toString('utf8').slice(0, 200); });
  s.on('error', (e) => { if (!report.errors.includes(e.code)) report.errors.push(e.code); });
}
const timer = setInterval(() => {
  let names = [];
  try { names = readdirSync(parent).filter((n) => n.startsWith('ferry-run-')); } catch (e) { return; }
  for (const n of names) {
    const path = parent + '/' + n + '/stream/stream.sock';
    attempt(path);
  }
}, 5);
process.stdin.on('data', () => {
  clearInterval(timer);
  setTimeout(() => { process.stdout.write(JSON.stringify(report)); process.exit(0); }, 300);
});
process.stderr.write('racing\\n');
`;

async function startRacer(parent: string, ids: { uid: number; gid: number } | null): Promise<{ stop: () => Promise<RaceReport> }> {
  const child = spawn(process.execPath, ['-e', RACER, parent], { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'], env: {}, ...(ids ?? {}) });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString('utf8');
      if (err.includes('racing')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the racer exited (${String(code)}): ${err}`)));
  });
  return {
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end('stop\n');
      await exited;
      return JSON.parse(out) as RaceReport;
    },
  };
}

/** Connects once to the run's socket under `parent` as this (root) process and reports what it was sent. */
async function knock(parent: string, frame: string): Promise<{ connected: boolean; bytes: number }> {
  const [name] = (await readdir(parent)).filter((n) => n.startsWith('ferry-run-'));
  if (name === undefined) throw new Error('no run directory');
  const socket = connect(join(parent, name, 'stream', 'stream.sock'));
  let connected = false;
  let bytes = 0;
  socket.on('connect', () => {
    connected = true;
    socket.write(frame);
  });
  socket.on('data', (d: Buffer) => (bytes += d.length));
  await new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  return { connected, bytes };
}

// Dirty fixture values: a quote, a backslash, a tab, non-BMP text.
const PAYROLL = [
  { k: 'emp-7', r: { id: 7, name: 'o\'brien\\payroll' } },
  { k: 'emp-8', r: { id: 8, name: 'night\tshift 🌙' } },
];

function suite(name: string, makeDriver: () => Promise<SandboxDriver>): void {
  describe.runIf(asRoot)(`the row stream of the ${name} driver`, () => {
    let driver: SandboxDriver;
    let parent: string;
    let savedTmp: string | undefined;

    beforeAll(async () => {
      driver = await makeDriver();
      // A /tmp of this file's own (listable by anyone, like /tmp), so the racers find only these runs.
      parent = await mkdtemp(join(tmpdir(), 'ferry-stream-race-'));
      await chmod(parent, 0o755);
      savedTmp = process.env.TMPDIR;
      process.env.TMPDIR = parent;
    });
    afterAll(async () => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      await removeBundles();
      await rm(parent, { recursive: true, force: true });
    });

    it('goes to the program only: uid 1000 and a root process without the secret, both first, get nothing', async () => {
      const bundle = await bundleProgram('upper');
      const otherUser = await startRacer(parent, { uid: 1000, gid: 1000 });
      const noSecret = await startRacer(parent, null);
      const logs: string[] = [];
      const { session } = await startWith(driver, bundle, 'race', {}, (line) => logs.push(line));
      const outcome = await session.transform(1, PAYROLL);
      const run = await session.close();
      const [other, root] = await Promise.all([otherUser.stop(), noSecret.stop()]);

      expect(outcome).toEqual({
        status: 'ok',
        rows: [
          { k: 'emp-7', r: { id: 7, name: 'O\'BRIEN\\PAYROLL' } },
          { k: 'emp-8', r: { id: 8, name: 'NIGHT\tSHIFT 🌙' } },
        ],
      });
      expect(run.exitReason).toBe('ok');
      // The other user was sent nothing: it could not even reach the socket, or was refused.
      expect(other.bytes).toBe(0);
      expect(other.received).toBe('');
      if (other.connected === 0) expect(other.errors).toContain('EACCES');
      // Root reaches the socket; without the secret it is closed before it is sent a row.
      expect(root.connected).toBeGreaterThan(0);
      expect(root.bytes).toBe(0);
      const refusals = run.logTail.filter((l) => l.includes('refused a connection to the row stream'));
      expect(refusals.some((l) => l.includes('wrong token'))).toBe(true);
      expect(logs.some((l) => l.includes('refused a connection to the row stream'))).toBe(true);
    });

    it('refuses and logs a connection after the program\'s, and one that says nothing useful', async () => {
      const bundle = await bundleProgram('upper');
      const { session } = await startWith(driver, bundle, 'second');
      const second = await knock(parent, `${JSON.stringify({ v: 1, t: 'ready', token: 'a'.repeat(64) })}\n`);
      const garbage = await knock(parent, 'GET / HTTP/1.1\n');
      const outcome = await session.transform(1, PAYROLL.slice(0, 1));
      const run = await session.close();
      expect(second).toEqual({ connected: true, bytes: 0 });
      expect(garbage).toEqual({ connected: true, bytes: 0 });
      expect(outcome.status).toBe('ok');
      expect(run.exitReason).toBe('ok');
      expect(run.logTail.filter((l) => l.includes('the program is already connected'))).toHaveLength(2);
    });
  });
}

suite('Docker', async () => {
  await dockerDriverForTests();
  return new DockerDriver();
});
suite('local', async () => new LocalDriver());
