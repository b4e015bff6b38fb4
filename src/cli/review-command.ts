import { createInterface } from 'node:readline';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { openConnections, type Say } from '../chain.js';
import { requireUrl, type FerryConfig } from '../config.js';
import { createPlanProbe } from '../db/plan-probe.js';
import { hasStore, withStore } from '../service/commands.js';
import { saveJson } from '../store/file-store.js';
import { terminalWriter } from '../terminal-text.js';
import { reviewAtTerminal } from '../review/terminal-review.js';

/** `ferry review <plan>` wired to stdin/stdout, the plan files and the run store. */
export async function reviewCommand(
  config: FerryConfig,
  loaded: { paths: { plan: string }; plan: MigrationPlan; analysis: SchemaAnalysis },
  by: string,
  say: Say,
): Promise<number> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  // The async iterator buffers lines, so answers piped in before a question is asked are kept.
  const lines = rl[Symbol.asyncIterator]();
  let rejectNote = '';
  try {
    const result = await reviewAtTerminal({
      plan: loaded.plan,
      lines,
      write: terminalWriter(process.stdout),
      applyOverrides: async (plan, overrides) => {
        const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'));
        try {
          return await applyOverrides(plan, overrides, by, createPlanProbe(conn.source, conn.target), new Date(), undefined, loaded.analysis);
        } finally {
          await conn.close();
        }
      },
      approve: (plan) => approvePlan(plan, by),
      reject: (plan, note) => {
        rejectNote = note;
        return MigrationPlan.parse({ ...plan, status: 'rejected' });
      },
    });
    for (const plan of result.revisions) {
      await saveJson(loaded.paths.plan, plan);
      if (hasStore(config)) await withStore(config, (store) =>
        store.savePlan(plan, loaded.analysis, plan.status === 'draft' ? undefined : { by, ...(plan.status === 'rejected' && rejectNote ? { note: rejectNote } : {}) }),
      );
    }
    if (result.outcome === 'approved') say(`run it: ferry run ${loaded.paths.plan}`);
    return result.outcome === 'approved' ? 0 : 1;
  } finally {
    rl.close();
  }
}
