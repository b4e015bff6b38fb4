// The sandbox's Node version as a setting: what src/config.ts parses at every start, kept apart
// from image.ts (the Docker client, child processes, the offline build) so reading the
// configuration loads none of them.

/**
 * The sandbox's Node: a major (any release of it will do; the offline build takes the newest
 * the npm registry has) or an exact version. Parsed from FERRY_SANDBOX_NODE by src/config.ts.
 */
export interface SandboxNode {
  major: number;
  /** An exact version ("20.19.5"), or null for "any release of `major`". */
  exact: string | null;
}

/** The last Node 18 release: what ferry always ran, and still the default. */
export const DEFAULT_NODE_VERSION = '18.20.8';
export const DEFAULT_SANDBOX_NODE: SandboxNode = { major: 18, exact: null };
/** The oldest major the sandbox harness and the bundles are built for. */
export const MIN_NODE_MAJOR = 18;

/** "20" or "20.19.5" as a SandboxNode; null when it is neither. */
export function parseSandboxNode(text: string): SandboxNode | null {
  const m = /^v?(\d{1,3})(?:\.(\d{1,4})\.(\d{1,4}))?$/.exec(text.trim());
  if (!m) return null;
  const major = Number(m[1]);
  return { major, exact: m[2] === undefined ? null : `${major}.${Number(m[2])}.${Number(m[3])}` };
}
