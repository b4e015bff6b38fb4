/**
 * A pool of warm sandbox containers (sandbox/warm.ts): created and started ahead with the
 * policy, each handed to exactly one run and removed with it, refilled in the background.
 * It is a SandboxDriver: the orchestrator starts a session on it as on the Docker driver,
 * and gets a warm container when one fits the run's policy, else a cold start (never a
 * container with another policy). Every container handed out is inspected first: the
 * daemon's view of it must be the run's policy, or it is removed and the run starts cold.
 */
import { randomUUID } from 'node:crypto';
import { appliedOptions, appliedPolicy, type DockerDriver } from './docker-driver.js';
import { defaultPolicy, type SandboxPolicy } from './policy.js';
import { runDirAccess } from './run-dir.js';
import type { Availability, SandboxDriver, SandboxSession, SandboxStartOptions } from './types.js';
import { WarmContainer, warmKey } from './warm.js';
import { besideStep, step } from '../src/core/steps.js';

/** A warm container nobody claims exits after this long (FERRY_SANDBOX_POOL_IDLE_MS): a crashed ferry leaves nothing running for long. */
export const DEFAULT_POOL_IDLE_MS = 10 * 60_000;

/** The part of a pino logger the pool uses (the application passes its own). */
export interface PoolLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface PoolOptions {
  /** Warm containers kept ready (0: none; every run starts cold). */
  size: number;
  /** The policy the warm containers are made with; a run with another one starts cold (default: defaultPolicy). */
  policy?: SandboxPolicy;
  idleTimeoutMs?: number;
  /** Extra labels on the warm containers. */
  labels?: Record<string, string>;
  /**
   * Replace each container a run takes (and one that exits idle) in the background (default
   * true: `ferry serve`). False for a pool made for known runs (a CLI run's ranges): it makes
   * `size` containers once, and a replacement would only be created to be removed at exit,
   * its Docker work competing with the run for the CPU.
   */
  refill?: boolean;
  /** Where failures to make or hand out a warm container are told (runs then start cold). */
  logger: PoolLogger;
}

export interface PoolStats {
  /** Runs served by a warm container. */
  warm: number;
  /** Runs started cold: the pool was empty, or the run's policy was not the pool's. */
  cold: number;
  /** Warm containers created so far. */
  created: number;
  /** Warm containers removed without serving a run (idle exit, failed hand-out check, pool closed). */
  discarded: number;
  ready: number;
  starting: number;
}

export class SandboxPool implements SandboxDriver {
  readonly kind = 'docker' as const;
  readonly size: number;
  private readonly policy: SandboxPolicy;
  private readonly idleTimeoutMs: number;
  private readonly logger: PoolLogger;
  private readonly ready: WarmContainer[] = [];
  private readonly starting = new Set<Promise<void>>();
  private closed = false;
  private readonly refill: boolean;
  /** Warm containers asked for so far (made or failed): a pool without refill asks for `size`, once. */
  private asked = 0;
  private readonly counts = { warm: 0, cold: 0, created: 0, discarded: 0 };
  /** Which container served which run (runId → container id): one each, never two runs on one. */
  readonly served = new Map<string, string>();
  /** The last failure to create a warm container, for the person (runs still start cold). */
  lastError: Error | null = null;

  constructor(
    readonly driver: DockerDriver,
    private readonly options: PoolOptions,
  ) {
    this.size = Math.max(0, Math.floor(options.size));
    this.policy = options.policy ?? defaultPolicy;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_POOL_IDLE_MS;
    this.logger = options.logger;
    this.refill = options.refill ?? true;
  }

  available(): Promise<Availability> {
    return this.driver.available();
  }

  stats(): PoolStats {
    return { ...this.counts, ready: this.ready.length, starting: this.starting.size };
  }

  /** Starts creating warm containers up to the pool's size, in the background; returns at once. */
  fill(): void {
    while (!this.closed && this.ready.length + this.starting.size < this.size && (this.refill || this.asked < this.size)) {
      this.asked += 1;
      const making: Promise<void> = this.makeOne().finally(() => this.starting.delete(making));
      this.starting.add(making);
    }
  }

  /**
   * Resolves once every container being made has had its start asked of the daemon (and the
   * request written), or was made, or failed. A CLI run waits for this (capped) before it loads
   * its machinery: the daemon then starts the container while ferry loads, instead of the
   * create, attach and start each waiting for a turn of a main thread busy compiling modules.
   */
  launching(): Promise<void> {
    return Promise.all([...this.launches]).then(() => undefined);
  }

  private readonly launches = new Set<Promise<void>>();

  /** Resolves once every container being made is made (or failed): for benchmarks and tests. */
  async settled(): Promise<void> {
    while (this.starting.size > 0) await Promise.all([...this.starting]);
  }

  private async makeOne(): Promise<void> {
    // Orphans of ferries that are gone are reaped beside the container's creation, not before
    // it: the list and removals are no part of this container's start.
    const reaped = this.driver.reapOnce();
    let launched!: () => void;
    const launch = new Promise<void>((resolve) => {
      launched = resolve;
    });
    this.launches.add(launch);
    void launch.then(() => this.launches.delete(launch));
    // The start request is written once the event loop has turned (its socket connects in the
    // next poll phase): two turns, then the daemon has it.
    const started = () => setImmediate(() => setImmediate(launched));
    try {
      const policy = appliedPolicy(this.policy);
      const image = await this.driver.image(policy);
      besideStep('pool.image');
      const warm = await WarmContainer.create(this.driver.client, {
        policy,
        image,
        access: runDirAccess(policy, false),
        slot: randomUUID(),
        labels: this.options.labels ?? {},
        idleTimeoutMs: this.idleTimeoutMs,
        onStarting: started,
      });
      this.counts.created += 1;
      await reaped;
      besideStep('pool.ready');
      if (this.closed) return void (await this.discard(warm));
      this.ready.push(warm);
      // Gone before a run claimed it (idle timeout, killed from outside): out of the pool, and replaced.
      void warm.exited.then(() => this.onIdleExit(warm));
    } catch (e) {
      this.lastError = e instanceof Error ? e : new Error(String(e));
      this.logger.warn({ err: e }, 'could not create a warm sandbox container; runs start cold until one is made');
    } finally {
      launched();
    }
  }

  private async onIdleExit(warm: WarmContainer): Promise<void> {
    const at = this.ready.indexOf(warm);
    if (at === -1) return;
    this.ready.splice(at, 1);
    await this.discard(warm);
    this.fill();
  }

  private async discard(warm: WarmContainer): Promise<void> {
    this.counts.discarded += 1;
    await warm.dispose().catch((e: unknown) => this.logger.warn({ err: e, container: warm.id }, 'could not remove a warm sandbox container'));
  }

  /**
   * The first ready container made for this run's policy, taken out of the pool. One close to
   * its idle exit is not handed out (its waiter could end under the run): it is replaced.
   */
  private take(key: string): WarmContainer | null {
    const freshAfter = Date.now() - (this.idleTimeoutMs - Math.min(30_000, this.idleTimeoutMs / 4));
    for (const old of this.ready.filter((w) => w.createdAt < freshAfter)) {
      this.ready.splice(this.ready.indexOf(old), 1);
      void this.discard(old);
    }
    const at = this.ready.findIndex((w) => w.key === key);
    if (at === -1) return null;
    const [warm] = this.ready.splice(at, 1);
    return warm !== undefined && warm.claim() ? warm : null;
  }

  /**
   * A ready container for this policy; when none is ready but some are being made with it
   * (a CLI run asks while its own are still starting), the first of those: a second,
   * cold start beside one already half done would only be slower.
   */
  private async claim(key: string): Promise<WarmContainer | null> {
    if (this.closed) return null;
    let warm = this.take(key);
    const ours = key === warmKey(appliedPolicy(this.policy));
    while (warm === null && ours && this.starting.size > 0 && !this.closed) {
      await Promise.race([...this.starting]);
      warm = this.take(key);
    }
    return warm;
  }

  async start(options: SandboxStartOptions): Promise<SandboxSession> {
    const run = appliedOptions(options);
    const warm = await this.claim(warmKey(run.policy));
    step('sandbox.claim');
    try {
      if (warm) {
        const problems = await warm.verify().catch((e: unknown) => [`it cannot be inspected: ${(e as Error)?.message ?? String(e)}`]);
        step('sandbox.verify');
        if (problems.length === 0) return await this.startWarm(warm, run);
        this.logger.warn({ container: warm.id, problems, runId: options.runId }, 'a warm sandbox container no longer matches the policy: removed; the run starts cold');
        await this.discard(warm);
      }
      this.counts.cold += 1;
      return await this.driver.start(options);
    } finally {
      // The replacement is made once this run has its container, not while it gets it.
      this.fill();
    }
  }

  private async startWarm(warm: WarmContainer, run: SandboxStartOptions): Promise<SandboxSession> {
    this.served.set(run.runId, warm.id);
    this.counts.warm += 1;
    try {
      return await this.driver.startOn(run, warm.options.image, warm.prepared(run));
    } catch (e) {
      // Refused before its session owned it (e.g. SANDBOX_BUNDLE_MISMATCH): it served nobody, it goes.
      await warm.dispose().catch(() => undefined);
      throw e;
    }
  }

  /** Removes every warm container not handed out; runs in progress keep theirs. */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    await Promise.all(this.ready.splice(0).map((w) => this.discard(w)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
