import { performance } from 'node:perf_hooks';
import type { RunEvent } from '../orchestrator/run-migration.js';

/**
 * Where a `ferry run` spends its time, logged (pino, level info: FERRY_LOG_LEVEL=info) as
 * `phasesMs` when the run ends; `npm run bench:seed` reads it. Each phase runs from the
 * previous mark to its own; `boot` is the process start (Node, module loading) to the command.
 */
export class RunPhases {
  private last = 0;
  private readonly phases: Record<string, number> = {};

  constructor() {
    this.mark('boot');
  }

  /** Ends the phase `name` now. A phase marked twice (several workers) keeps its first end. */
  mark(name: string): void {
    const now = performance.now();
    if (name in this.phases) return;
    this.phases[name] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }

  /** The orchestrator's own steps, from its events: prepare (lock, snapshot, counts), container start, stream. */
  onEvent = (e: RunEvent): void => {
    if (e.type === 'started') this.mark('orchestratorPrepare');
    else if (e.type === 'sandbox_started') this.mark('containerStart');
    else if (e.type === 'finished') this.mark('stream');
  };

  get values(): Readonly<Record<string, number>> {
    return { ...this.phases, total: Math.round(performance.now() * 10) / 10 };
  }
}
