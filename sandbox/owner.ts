/**
 * Who started a container, so that the containers of an orchestrator that crashed can be
 * found and removed while those of a live one (another ferry, another test worker sharing
 * the daemon) are left alone.
 *
 * A container carries its orchestrator's boot id, host name, pid and the pid's start time
 * (from /proc: a pid reused by a later process has another start time). Its orchestrator is
 * gone when it ran on this machine since this boot (same boot id and host name, so the pid
 * means the same thing here) and that pid with that start time no longer exists. Anything
 * else (another machine using the same daemon, no labels) is unknown and never reaped
 * automatically.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export const LABEL = {
  managed: 'ferry.managed',
  run: 'ferry.run',
  ownerBoot: 'ferry.owner.boot',
  ownerHost: 'ferry.owner.host',
  ownerPid: 'ferry.owner.pid',
  ownerStart: 'ferry.owner.start',
  /** A warm container of a pool (sandbox/pool.ts): its slot, and the host directory made for it. */
  pool: 'ferry.pool',
  poolDir: 'ferry.pool.dir',
} as const;

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Field 22 of /proc/<pid>/stat (clock ticks since boot), read after the command's closing parenthesis. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state), so field 22 is fields[19].
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export interface Owner {
  boot: string;
  host: string;
  pid: number;
  start: string;
}

let self: Owner | null = null;

export function currentOwner(): Owner {
  self ??= { boot: readBootId(), host: hostname(), pid: process.pid, start: processStartTime(process.pid) ?? 'unknown' };
  return self;
}

export function ownerLabels(owner: Owner = currentOwner()): Record<string, string> {
  return { [LABEL.ownerBoot]: owner.boot, [LABEL.ownerHost]: owner.host, [LABEL.ownerPid]: String(owner.pid), [LABEL.ownerStart]: owner.start };
}

export type OwnerState = 'self' | 'alive' | 'gone' | 'unknown';

/**
 * Whether the orchestrator named by a container's labels still runs. `isAlive` is the
 * check for a pid and start time on this machine (replaceable in tests).
 */
export function ownerState(
  labels: Record<string, string>,
  me: Owner = currentOwner(),
  isAlive: (pid: number, start: string) => boolean = (pid, start) => processStartTime(pid) === start,
): OwnerState {
  const boot = labels[LABEL.ownerBoot];
  const host = labels[LABEL.ownerHost];
  const pid = Number(labels[LABEL.ownerPid]);
  const start = labels[LABEL.ownerStart];
  if (boot === undefined || host === undefined || start === undefined || !Number.isSafeInteger(pid) || pid <= 0) return 'unknown';
  if (boot === 'unknown' || start === 'unknown') return 'unknown';
  if (host !== me.host) return 'unknown';
  // Same host name, earlier boot: that orchestrator died with the machine.
  if (boot !== me.boot) return 'gone';
  if (pid === me.pid && start === me.start) return 'self';
  return isAlive(pid, start) ? 'alive' : 'gone';
}
