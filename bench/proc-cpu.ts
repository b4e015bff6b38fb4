/**
 * Where a benchmark's CPU goes, read from /proc (Linux; null elsewhere): a process's own, the
 * PostgreSQL server's (every process of it), and the whole machine's busy time. CPU moves less
 * with a busy machine than wall time does, and on few cores it says when a run is bound by
 * the machine's CPU rather than by waiting.
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';
import type { EmbeddedServer } from '../src/db/embedded.js';

/** /proc's clock ticks per second (USER_HZ): 100 on Linux. */
export const TICKS_PER_S = 100;

/** Fields after the command name of /proc/<pid>/stat (field 3 is index 0). */
export async function statFields(pid: number | 'self'): Promise<string[] | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU of this process's reaped children (cutime + cstime), in seconds; null without /proc. */
export function childCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / TICKS_PER_S;
  } catch {
    return null;
  }
}

/**
 * Busy time of every CPU of the machine so far (user, nice, system, irq, softirq, steal from
 * /proc/stat), in seconds; null without /proc. Over a run: what everything on the machine
 * used, the run's own process, its database and Docker's daemons included.
 */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return null;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_S;
  } catch {
    return null;
  }
}

/**
 * The whole PostgreSQL server's CPU so far: the postmaster's own and its reaped children's, plus
 * every live child's (backends, autovacuum, checkpointer, WAL writer). The server serves only the
 * bench, so the difference over a run is what that run cost the database, every connection
 * included (and an autovacuum or checkpoint that falls in it).
 */
export interface ServerCpu {
  seconds(): Promise<number | null>;
}

export async function serverCpu(server: EmbeddedServer): Promise<ServerCpu> {
  // Read while the connection is open: its backend's parent is the postmaster.
  const c = new pg.Client({ connectionString: server.url('postgres') });
  await c.connect();
  let postmaster: number;
  try {
    const backend = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    postmaster = Number((await statFields(backend))?.[1] ?? NaN);
  } finally {
    await c.end();
  }
  return {
    async seconds() {
      // A backend whose client just left may still be exiting: let the postmaster reap it first.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const own = await statFields(postmaster);
      if (!own) return null;
      let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
      for (const entry of await readdir('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const f = await statFields(Number(entry));
        if (f && Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
      }
      return ticks / TICKS_PER_S;
    },
  };
}
