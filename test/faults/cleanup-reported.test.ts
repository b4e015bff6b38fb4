import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigration, type RunResult } from '../../src/orchestrator/run-migration.js';
import { defaultPolicy, SANDBOX_PATHS } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { completed, createFaultCase, docker, expectExact, failed, prepareCase, terminateBackends, withConnections, withHook, type Attempt } from './fault-case.js';

const exec = promisify(execFile);

/**
 * What goes wrong after the rows are safe is reported, not dropped: a sandbox whose leftovers
 * cannot be removed, and a table lock that cannot be released. Both on real Docker and real
 * PostgreSQL; the fault is real too (an immutable file in the run directory, a terminated backend).
 */
describe('problems past the rows are reported', () => {
  let driver: SandboxDriver;
  let work: string;
  beforeAll(async () => {
    driver = await dockerDriverForTests();
    work = await mkdtemp(join(tmpdir(), 'ferry-faults-cleanup-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A pino logger whose JSON lines land in `lines`. */
  function capturingLogger(lines: Array<Record<string, unknown>>) {
    return pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  }

  it('a sandbox whose run directory cannot be removed: the run completes, keeps the record, and warns SANDBOX_CLEANUP_FAILED', async () => {
    const pair = await createFaultCase({ rows: 900, prefix: 'cleanup_' });
    const pinned: string[] = [];
    try {
      const s = await prepareCase(pair, 150, join(work, 'sandbox'));
      // Before the first batch: the host copy of the bundle (bind-mounted into the container) made immutable.
      const hooked = withHook(driver, async (batch, options) => {
        if (batch !== 1) return;
        const [c] = await docker.listContainers({ all: true, filters: { label: [`ferry.run=${options.runId}`] } });
        const mount = (await docker.getContainer(c!.Id).inspect()).Mounts.find((m) => m.Destination === SANDBOX_PATHS.bundle);
        await exec('chattr', ['+i', mount!.Source]);
        pinned.push(mount!.Source);
      });
      const logged: Array<Record<string, unknown>> = [];
      const result = await withConnections(pair, (conn) =>
        runMigration({ plan: s.plan, analysis: s.analysis, bundle: s.program.bundle, source: conn.source, target: conn.target, driver: hooked, policy: defaultPolicy, logger: capturingLogger(logged) }),
      );
      completed(result);
      expect(pinned).toHaveLength(1);
      // The rows are all there, each once, with its mapping: the leftover changed nothing.
      await expectExact(pair, { sourceCountSql: 'SELECT count(*) AS n FROM parts WHERE group_id = 1' });
      // The record of the sandbox run survived its failed cleanup.
      expect(result.sandbox?.exitReason).toBe('ok');
      expect(result.sandbox?.batches).toBe(result.batches);
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings[0]).toMatch(/^SANDBOX_CLEANUP_FAILED: worker 0's sandbox: could not remove what run m\d+-w0-\w+ left behind: /);
      // It names the leftover, so a person can remove it.
      expect(result.warnings[0]).toContain(dirname(pinned[0]!));
      expect(result.warnings[0]).toContain('ferry sandbox gc');
      expect(logged.filter((l) => l.code === 'SANDBOX_CLEANUP_FAILED')).toHaveLength(1);
    } finally {
      for (const f of pinned) {
        await exec('chattr', ['-i', f]);
        await rm(dirname(f), { recursive: true, force: true });
      }
      await pair.drop();
    }
  });

  it('a lock whose backend is gone: the release failure is logged and returned as LOCK_RELEASE_FAILED beside the run\'s own error', async () => {
    const pair = await createFaultCase({ rows: 900, prefix: 'unlock_' });
    try {
      const s = await prepareCase(pair, 150, join(work, 'lock'));
      // After batch 1 committed, the target backend (which holds the table's advisory lock) is terminated.
      let terminated = -1;
      const hooked = withHook(driver, async (batch) => {
        if (batch === 2) terminated = await terminateBackends(pair, 'target', 'ferry-target');
      });
      const logged: Array<Record<string, unknown>> = [];
      const attempt: Attempt = await withConnections(pair, (conn) =>
        runMigration({ plan: s.plan, analysis: s.analysis, bundle: s.program.bundle, source: conn.source, target: conn.target, driver: hooked, policy: defaultPolicy, logger: capturingLogger(logged) }),
      );
      expect(terminated).toBeGreaterThanOrEqual(1);
      const result: RunResult = failed(attempt);
      expect(result.errorCode).toBe('DB_CONNECTION_LOST');
      const lock = result.warnings.filter((w) => w.startsWith('LOCK_RELEASE_FAILED: '));
      expect(lock).toHaveLength(1);
      expect(lock[0]).toContain('the advisory lock on public.items could not be released');
      expect(logged.filter((l) => l.code === 'LOCK_RELEASE_FAILED' && l.targetTable === 'public.items')).toHaveLength(1);
      // PostgreSQL released it with the backend: the next run takes the table and finishes it.
      const second = await withConnections(pair, (conn) =>
        runMigration({ plan: s.plan, analysis: s.analysis, bundle: s.program.bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy, logger: capturingLogger([]) }),
      );
      completed(second);
      expect(second.warnings).toEqual([]);
      await expectExact(pair);
    } finally {
      await pair.drop();
    }
  });
});
