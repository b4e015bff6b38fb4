import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ValidationReport } from '../../src/core/artifacts/validation-report.js';
import type { RunResult } from '../../src/orchestrator/run-migration.js';
import { executeRun, type RunRequest } from '../../src/run/execute-run.js';
import type { RunRow, RunStore } from '../../src/store/run-store.js';

/**
 * executeRun — the function the CLI, the service and the demo run plans through — for tests
 * that run a prepared plan: the work directory defaults to the program's, startedBy to "test",
 * and the outcome is unwrapped (no onceKey is given, so every call runs).
 */
export async function executeRunForTest(
  store: RunStore,
  input: Omit<RunRequest, 'store' | 'workDir' | 'startedBy'> & Partial<Pick<RunRequest, 'workDir' | 'startedBy'>>,
): Promise<{ run: RunResult; report: ValidationReport | null; record: RunRow; warnings: string[] }> {
  const workDir = input.workDir ?? (input.program ? dirname(input.program.bundle.path) : await mkdtemp(join(tmpdir(), 'ferry-run-')));
  const outcome = await executeRun({ ...input, store, workDir, startedBy: input.startedBy ?? 'test' });
  if (!outcome.created) throw new Error(`executeRun found run ${outcome.run.id} already recorded`);
  return { run: outcome.result, report: outcome.report, record: outcome.run, warnings: outcome.warnings };
}
