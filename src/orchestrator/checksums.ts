/** The run's checksums (see RunChecksums): per-row digests, and their hashes in key-range order. */
import { createHash } from 'node:crypto';
import { canonicalJson, sha256 } from '../core/artifacts/hash.js';
import type { InputRow, OutputRow } from '../../sandbox/types.js';
import type { Digests, RunChecksums } from './run-types.js';

/** Per row: what went in and what came out, as short digests (see RunChecksums). */
export function digestBatch(d: Digests, sent: InputRow[], rows: OutputRow[]): void {
  const out = new Map(rows.map((r) => [r.k, r.r]));
  for (const r of sent) {
    d.keys.push(r.k);
    d.source.push(sha256(`${canonicalJson([r.k, r.r])}\n`));
    d.rows.push(sha256(`${canonicalJson([r.k, out.get(r.k)])}\n`));
  }
}

/** The workers' digests in key-range order (worker 0 holds the lowest keys). */
export function checksums(dryRun: boolean, parts: Digests[]): RunChecksums {
  const rowsHash = createHash('sha256');
  const sourceHash = createHash('sha256');
  const keys: string[] = [];
  const digests: string[] = [];
  for (const p of parts) {
    p.keys.forEach((k, i) => {
      keys.push(k);
      sourceHash.update(p.source[i]!);
      rowsHash.update(p.rows[i]!);
      digests.push(`${p.source[i]!.slice(0, 16)}:${p.rows[i]!.slice(0, 16)}`);
    });
  }
  return { dryRun, rowsChecksum: rowsHash.digest('hex'), sourceChecksum: sourceHash.digest('hex'), keys, digests, digested: true };
}
