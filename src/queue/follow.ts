/**
 * `ferry run --queue` without --detach: follows the queued run from its partitions' run events
 * until it ends — progress, rows/s and ETA summed over every range on every worker — and sweeps
 * lost workers meanwhile (if every worker died, the follower still hands their ranges back).
 */
import type PgBoss from 'pg-boss';
import { sweepLostWorkers } from './supervise.js';
import type { PartitionRow, PlanRow, QueueDb } from './queue-db.js';
import type { QueueSettings } from './settings.js';

export interface FollowOutcome {
  status: 'completed' | 'failed';
  errorCode: string | null;
  error: string | null;
  plans: PlanRow[];
  partitions: PartitionRow[];
}

/** Rows done and to do over every range of the run, from the counters the run events keep. */
export function aggregate(parts: readonly PartitionRow[]): { done: number; toMigrate: number; known: number; states: Record<string, number> } {
  const states: Record<string, number> = {};
  for (const p of parts) states[p.state] = (states[p.state] ?? 0) + 1;
  return {
    done: parts.reduce((n, p) => n + p.rowsDone, 0),
    toMigrate: parts.reduce((n, p) => n + (p.toMigrate ?? 0), 0),
    known: parts.filter((p) => p.toMigrate !== null).length,
    states,
  };
}

export async function followRun(input: { queue: QueueDb; boss: PgBoss; queueRunId: number; settings: QueueSettings; say: (line: string) => void; everyMs?: number }): Promise<FollowOutcome> {
  const { queue, queueRunId, say } = input;
  const t0 = Date.now();
  let lastEvent = 0;
  let lastSweep = 0;
  for (;;) {
    for (const e of await queue.events(queueRunId, lastEvent)) {
      lastEvent = e.id;
      const line = eventLine(e.event, e.partitionIdx);
      if (line) say(line);
    }
    const run = await queue.run(queueRunId);
    const parts = await queue.partitions(queueRunId);
    if (run.status !== 'running') {
      return { status: run.status === 'completed' ? 'completed' : 'failed', errorCode: run.errorCode, error: run.error, plans: await queue.plans(queueRunId), partitions: parts };
    }
    say(progressLine(aggregate(parts), (Date.now() - t0) / 1000, parts.length));
    if (Date.now() - lastSweep > input.settings.heartbeatMs) {
      lastSweep = Date.now();
      await sweepLostWorkers(queue, input.boss, input.settings.leaseMs, say);
    }
    await new Promise((r) => setTimeout(r, input.everyMs ?? 2000));
  }
}

export function progressLine(a: ReturnType<typeof aggregate>, seconds: number, total: number): string {
  const rate = seconds > 0 ? a.done / seconds : 0;
  const left = a.toMigrate - a.done;
  const eta = rate > 0 && a.known === total ? `, ETA ${Math.max(0, Math.round(left / rate))} s` : '';
  const states = Object.entries(a.states).map(([s, n]) => `${n} ${s}`).join(', ');
  const of = a.known === total ? ` / ${a.toMigrate.toLocaleString('en-US')}` : '';
  return `⏳ ${a.done.toLocaleString('en-US')}${of} rows, ${Math.round(rate).toLocaleString('en-US')} rows/s${eta} — ranges: ${states}`;
}

function eventLine(e: Record<string, unknown>, partitionIdx: number): string | null {
  const part = `range ${partitionIdx + 1}`;
  switch (e.type) {
    case 'claimed':
      return `   ${part} claimed by ${String(e.worker_id)}`;
    case 'resumed':
      return `   ${part} resumed: ${String(e.alreadyMapped)} rows already migrated by earlier attempts`;
    case 'worker_lost':
      return `⚠ ${part}: worker ${String(e.worker_id)} lost (no heartbeat for ${String(e.heartbeatAgeSeconds)} s); back to the queue`;
    case 'finished':
      return `   ${part} ${String(e.status)}`;
    case 'self_reference_resolved':
      return `🔗 ${String(e.column)}: second pass over every range set ${String(e.updated)} reference(s)${Number(e.orphans) ? `; ${String(e.orphans)} orphan(s) left NULL` : ''}`;
    default:
      return null;
  }
}
