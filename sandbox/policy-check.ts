import { SandboxError } from '../src/core/errors.js';
import type { SandboxPolicy } from './policy.js';

/** Largest delay setTimeout honours; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Refuses a policy that cannot be applied as written (rather than applying something else). */
export function checkPolicy(policy: SandboxPolicy): void {
  const problems: string[] = [];
  const positiveInt = (name: keyof SandboxPolicy, max = Number.MAX_SAFE_INTEGER) => {
    const v = policy[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > max) problems.push(`${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`);
  };
  positiveInt('memoryBytes');
  positiveInt('memorySwapBytes');
  positiveInt('pidsLimit');
  positiveInt('timeoutMs', MAX_TIMER_MS);
  positiveInt('tmpfsSizeBytes');
  positiveInt('shmSizeBytes');
  positiveInt('maxLogBytes');
  positiveInt('logTailBytes');
  positiveInt('maxOutputBytes');
  positiveInt('maxFrameBytes');
  positiveInt('nofileLimit');
  positiveInt('killGraceMs', MAX_TIMER_MS);
  if (!(policy.cpus > 0)) problems.push('cpus must be positive');
  if (policy.memorySwapBytes < policy.memoryBytes) problems.push('memorySwapBytes must be at least memoryBytes');
  if (!/^\d+:\d+$/.test(policy.user)) problems.push('user must be "uid:gid" in numbers');
  if (policy.networkMode !== 'none') problems.push('networkMode must be "none"');
  if (problems.length > 0) {
    throw new SandboxError('SANDBOX_POLICY_INVALID', `the sandbox policy cannot be applied: ${problems.join('; ')}`, { details: { problems } });
  }
}

