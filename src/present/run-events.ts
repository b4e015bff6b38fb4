import type { DriverChoice } from '../../sandbox/index.js';
import { formatProgress } from '../orchestrator/progress.js';
import type { RunEvent } from '../orchestrator/run-migration.js';
import type { SelfReferenceResolved } from '../orchestrator/self-references.js';

/**
 * The one place run events, the sandbox choice and run warnings become text: the CLI, the demo,
 * the service's commands (`ferry runs show`) and the terminal all print these lines. The review
 * page (src/review/page/app.js, plain browser JS) mirrors describeRunEvent field for field.
 */

/** The sandbox a run will use; the weaker local one is always said out loud. */
export function sandboxChoiceLine(choice: Pick<DriverChoice, 'weaker' | 'detail'>): string {
  return choice.weaker ? `⚠ WEAKER SANDBOX — ${choice.detail}` : `🐳 Docker sandbox: ${choice.detail}`;
}

/** A warning a run returned (a failed event write, a failed cleanup): never dropped, always shown. */
export function warningLine(warning: string): string {
  return `⚠ ${warning}`;
}

const ICONS: Record<RunEvent['type'], string> = {
  started: '📊',
  resumed: '♻️ ',
  sandbox_started: '📦',
  batch_committed: '💾',
  log: '  ',
  self_reference_resolved: '🔗',
  finished: '🏁',
};

function describeStarted(e: Extract<RunEvent, { type: 'started' }>): string {
  const who = e.migrationId === 0 ? 'dry run' : `migration ${e.migrationId}`;
  const ranges = typeof e.parallel === 'number' && e.parallel > 1 ? `, ${e.parallel} key ranges side by side` : '';
  return `${who} started: ${e.sourceRows} source rows under the filter, ${e.alreadyMapped} already migrated, ${e.toMigrate} to migrate in batches of up to ${e.batchSize} rows${ranges}`;
}

function describeBatch(e: Extract<RunEvent, { type: 'batch_committed' }>): string {
  // Events of runs recorded before progress figures existed have no `done`.
  const progress = typeof e.done === 'number' ? ` · ${formatProgress({ ...e, total: e.toMigrate })}` : '';
  const range = typeof e.worker === 'number' && e.worker > 0 ? ` (key range ${e.worker + 1})` : '';
  return `batch ${e.batch}: ${e.rows} rows + ${e.rows} mappings committed${range} (${e.inserted}/${e.toMigrate})${progress}`;
}

function describeSelfReference(e: SelfReferenceResolved): string {
  return `${e.column}: second pass set ${e.updated} reference(s) through this table's mappings${e.orphans ? `; ${e.orphans} orphan(s) left NULL` : ''}`;
}

/**
 * One line per event, without icon; null for an event of a type this version does not know
 * (recorded events come back from the store as plain JSON, possibly from another version).
 */
export function describeRunEvent(event: RunEvent | Record<string, unknown>): string | null {
  const e = event as RunEvent;
  switch (e.type) {
    case 'started':
      return describeStarted(e);
    case 'resumed':
      return `resuming: run(s) ${e.abandoned.join(', ')} stopped without finishing and are marked failed (RUN_ABANDONED); their ${e.alreadyMapped} committed rows are kept and skipped`;
    case 'sandbox_started':
      return `sandbox started (${e.driver})${typeof e.worker === 'number' && e.worker > 0 ? ` for key range ${e.worker + 1}` : ''}`;
    case 'batch_committed':
      return describeBatch(e);
    case 'log':
      return `│ ${e.line}`;
    case 'self_reference_resolved':
      return describeSelfReference(e);
    case 'finished':
      return `finished: ${e.status}`;
    default:
      return null;
  }
}

/** The same line with its icon, for a person watching a run. */
export function runEventLine(event: RunEvent | Record<string, unknown>): string | null {
  const text = describeRunEvent(event);
  if (text === null) return null;
  return `${ICONS[(event as RunEvent).type]} ${text}`;
}

/**
 * A printer for a live run: every event but progress, which a long run emits hundreds of times,
 * is printed; batches one line each while few, then one every `everyMs` (and the last one).
 */
export function runEventPrinter(say: (line: string) => void, options: { everyMs?: number; now?: () => number } = {}): (e: RunEvent) => void {
  const everyMs = options.everyMs ?? 2000;
  const now = options.now ?? Date.now;
  let last = Number.NEGATIVE_INFINITY;
  return (e) => {
    if (e.type === 'batch_committed') {
      const t = now();
      if (e.batch > 20 && t - last < everyMs && e.done < e.toMigrate) return;
      last = t;
    }
    const line = runEventLine(e);
    if (line !== null) say(line);
  };
}
