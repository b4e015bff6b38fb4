import { performance } from 'node:perf_hooks';
import { recordSteps } from '../core/steps.js';
import { roundTripCounts } from '../db/connect.js';
import type { RunEvent } from '../orchestrator/run-migration.js';

/** Application names of ferry's connections, as the phase log shortens them. */
const CONNECTION = (name: string): string => name.replace(/^ferry-/, '');

/**
 * Where a `ferry run` spends its time, logged (pino, level info: FERRY_LOG_LEVEL=info) when
 * the run ends; `npm run bench:seed` reads it. Each phase runs from the previous mark to its
 * own; `boot` is the process start (Node, module loading) to the command. Per phase:
 * - `phasesMs`: wall time;
 * - `cpuMs`: this process's CPU time (user + system): the rest of the phase was waiting (on
 *   PostgreSQL, Docker, the container, or the other processes on the machine);
 * - `roundTrips`: queries sent per connection (store, source, target, session-probe), each a
 *   round trip to its server;
 * - `stepsMs`: the named steps inside it (src/core/steps.ts), `<phase>.<step>`, each from the
 *   step or phase mark before it;
 * - `stepsAt` (once, not per phase): when each step, and each moment of the work beside them
 *   (besideStep: the early container, the program's frames), first happened, in ms since the
 *   process started: the run's timeline, where what overlaps shows.
 */
export class RunPhases {
  private last = 0;
  private lastStep = 0;
  private lastCpu = 0;
  private lastTrips: Readonly<Record<string, number>> = {};
  private readonly phases: Record<string, number> = {};
  private readonly cpu: Record<string, number> = {};
  private readonly trips: Record<string, Record<string, number>> = {};
  private readonly steps: Record<string, number> = {};
  private readonly at: Record<string, number> = {};
  /** Steps seen since the last phase mark: named once their phase ends. */
  private open: Array<[string, number]> = [];

  constructor() {
    this.mark('boot');
  }

  /** Records the steps that code below reports (src/core/steps.ts) until stop(). */
  recordSteps(): this {
    recordSteps((name, beside) => {
      const now = performance.now();
      // Its first time since the process started: the timeline the bench prints, steps and the work beside them alike.
      this.at[name] ??= Math.round(now * 10) / 10;
      if (beside) return;
      this.open.push([name, Math.round((now - this.lastStep) * 10) / 10]);
      this.lastStep = now;
    });
    return this;
  }

  stop(): void {
    recordSteps(null);
  }

  /** Ends the phase `name` now. A phase marked twice (several workers) keeps its first end. */
  mark(name: string): void {
    const now = performance.now();
    if (name in this.phases) return;
    this.phases[name] = Math.round((now - this.last) * 10) / 10;
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    this.cpu[name] = Math.round(cpuMs - this.lastCpu);
    this.lastCpu = cpuMs;
    const trips = roundTripCounts();
    const delta: Record<string, number> = {};
    for (const [k, n] of Object.entries(trips)) if (n - (this.lastTrips[k] ?? 0) > 0) delta[CONNECTION(k)] = n - (this.lastTrips[k] ?? 0);
    this.trips[name] = delta;
    this.lastTrips = trips;
    for (const [step, ms] of this.open) this.steps[`${name}.${step}`] = (this.steps[`${name}.${step}`] ?? 0) + ms;
    this.open = [];
    this.last = now;
    this.lastStep = now;
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

  /** Everything the phase log line carries beside `phasesMs`. */
  get details(): { cpuMs: Record<string, number>; roundTrips: Record<string, Record<string, number>>; stepsMs: Record<string, number>; stepsAt: Record<string, number> } {
    const cpu = process.cpuUsage();
    return { cpuMs: { ...this.cpu, total: Math.round((cpu.user + cpu.system) / 1000) }, roundTrips: { ...this.trips }, stepsMs: { ...this.steps }, stepsAt: { ...this.at } };
  }
}
