/**
 * `ferry sandbox policy|ps|gc`: the policy as Docker sees it, and the containers ferry
 * started that still exist. Kept here so the CLI's main file only dispatches.
 */
import { SandboxError } from '../src/core/errors.js';
import { DockerDriver, type FerryContainer } from './docker-driver.js';
import { LABEL } from './owner.js';
import { defaultPolicy, dockerFields, type SandboxPolicy } from './policy.js';

/** The policy in Docker's field names (Config fields, HostConfig, and what ferry enforces itself). */
export function policyJson(policy: SandboxPolicy = defaultPolicy): string {
  return JSON.stringify({ Image: policy.image ?? '<resolved: node:18-alpine or ferry-sandbox:node18>', ...dockerFields(policy) }, null, 2);
}

const OWNER_WORDS: Record<FerryContainer['owner'], string> = {
  self: 'this process',
  alive: 'orchestrator running',
  gone: 'ORPHANED: orchestrator gone',
  unknown: 'owner unknown (other host or no owner labels)',
};

export function describeContainer(c: FerryContainer): string {
  const owner = c.labels[LABEL.ownerPid] ? `pid ${c.labels[LABEL.ownerPid]}@${c.labels[LABEL.ownerHost] ?? '?'}` : 'no owner';
  return `${c.id.slice(0, 12)}  run ${c.runId ?? '?'}  ${c.state} (${c.status})  created ${c.createdAt.toISOString()}  ${owner}: ${OWNER_WORDS[c.owner]}`;
}

async function usableDriver(): Promise<DockerDriver> {
  const driver = new DockerDriver({ reapOnStart: false });
  const a = await driver.available();
  // ps/gc need only the daemon; a missing image or init does not matter here.
  if (!a.ok && a.code === undefined) throw new SandboxError('SANDBOX_DOCKER_UNAVAILABLE', a.reason, { hint: 'start the Docker daemon (`docker info`)' });
  return driver;
}

/** Lists ferry's containers; returns the lines to print. */
export async function sandboxPs(): Promise<string[]> {
  const list = await (await usableDriver()).containers();
  if (list.length === 0) return ['no ferry containers'];
  return list.map(describeContainer);
}

/** Removes orphaned containers (or, with all, every ferry container); returns the lines to print. */
export async function sandboxGc(options: { all?: boolean } = {}): Promise<string[]> {
  const driver = await usableDriver();
  const removed = await driver.reapOrphans(options);
  const left = await driver.containers();
  const lines = removed.map((c) => `removed ${describeContainer(c)}`);
  lines.push(`removed ${removed.length} container(s); ${left.length} left${left.length > 0 && !options.all ? ' (of live runs or unknown owners; --all removes them too)' : ''}`);
  return lines;
}
