/**
 * The container policy, in one place. Defaults follow the case study's container spec
 * (512 MB, 1 CPU, 300 s, user 1000:1000, read-only root, no-new-privileges, all
 * capabilities dropped) plus what it forgot: no network at all, a pids limit, swap equal to
 * memory, and caps on log and output bytes.
 */
export interface SandboxPolicy {
  /** Image to run; resolved by sandbox/image.ts when not set (node:18-alpine if present, else ferry's offline build). */
  image: string | null;
  memoryBytes: number;
  /** Memory + swap; equal to memoryBytes means no swap. */
  memorySwapBytes: number;
  /** CPU quota in whole or fractional CPUs. */
  cpus: number;
  pidsLimit: number;
  timeoutMs: number;
  /** uid:gid inside the container. */
  user: string;
  readOnlyRootfs: boolean;
  tmpfsSizeBytes: number;
  noNewPrivileges: boolean;
  capDrop: string[];
  networkMode: 'none';
  /** Log bytes kept from stdout+stderr before truncation with a marker. */
  maxLogBytes: number;
  /** Largest single frame the program may send back. */
  maxFrameBytes: number;
}

export const defaultPolicy: SandboxPolicy = {
  image: null,
  memoryBytes: 512 * 1024 * 1024,
  memorySwapBytes: 512 * 1024 * 1024,
  cpus: 1,
  pidsLimit: 64,
  timeoutMs: 300_000,
  user: '1000:1000',
  readOnlyRootfs: true,
  tmpfsSizeBytes: 16 * 1024 * 1024,
  noNewPrivileges: true,
  capDrop: ['ALL'],
  networkMode: 'none',
  maxLogBytes: 1024 * 1024,
  maxFrameBytes: 64 * 1024 * 1024,
};
