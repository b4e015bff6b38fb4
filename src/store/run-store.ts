import { hostname } from 'node:os';
import type pg from 'pg';
import { contentHash, firstDifference, sha256 } from '../core/artifacts/hash.js';
import { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { analysisHash, SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { connect } from '../db/connect.js';
import type { TlsOptions } from '../db/tls.js';
import { assertNotTransactionPoolerUrl, assertSessionConnection, STATE_CHECK, TARGET_CHECK } from '../target/pooler.js';
import { DatabaseError, NotFoundError, PlanError } from '../core/errors.js';

/**
 * ferry's own records, in PostgreSQL: the schema `ferry` of the target database, or of the
 * database FERRY_STATE_URL names. The CLI and the service share it, so a plan made in one
 * is seen in the other.
 *
 * - artifacts: every artifact by its content hash (analyses, plans, programs, sandbox runs,
 *   validation reports, descriptions). Written once; a hash always names the same content.
 * - bundles: the exact bundle bytes a run executed, by sha256, so a run can be replayed.
 * - plan_versions: one row per plan revision, its status (draft / approved / rejected), who
 *   decided and when, and the overrides that made it.
 * - runs and run_events: each run (real, dry run, replay) with what it ran and its timeline.
 */
export const STORE_DDL = `
CREATE SCHEMA IF NOT EXISTS ferry;
CREATE TABLE IF NOT EXISTS ferry.artifacts (
  hash text PRIMARY KEY,
  kind text NOT NULL,
  body jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ferry.bundles (
  sha256 text PRIMARY KEY,
  bytes bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ferry.plan_versions (
  plan_id text NOT NULL,
  revision integer NOT NULL,
  status text NOT NULL CHECK (status IN ('draft', 'approved', 'rejected')),
  plan_hash text NOT NULL REFERENCES ferry.artifacts(hash),
  plan jsonb NOT NULL,
  analysis_hash text NOT NULL REFERENCES ferry.artifacts(hash),
  description text NOT NULL,
  source_table text NOT NULL,
  target_table text NOT NULL,
  overrides jsonb NOT NULL,
  decided_by text,
  decided_at timestamptz,
  decision_note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (plan_id, revision)
);
CREATE TABLE IF NOT EXISTS ferry.runs (
  id bigserial PRIMARY KEY,
  plan_id text NOT NULL,
  revision integer NOT NULL,
  plan_hash text NOT NULL REFERENCES ferry.artifacts(hash),
  mode text NOT NULL CHECK (mode IN ('run', 'dry_run', 'replay')),
  replay_of bigint REFERENCES ferry.runs(id),
  once_key text UNIQUE,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  started_by text NOT NULL,
  migration_id bigint,
  bundle_sha256 text REFERENCES ferry.bundles(sha256),
  program_hash text REFERENCES ferry.artifacts(hash),
  image_id text,
  sandbox_hash text REFERENCES ferry.artifacts(hash),
  report_hash text REFERENCES ferry.artifacts(hash),
  rows_checksum text,
  source_checksum text,
  row_keys jsonb,
  row_digests jsonb,
  outcome jsonb,
  error_code text,
  error text,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
-- sha256 of each model-written function body an approval covers (target column → hash); written once.
ALTER TABLE ferry.plan_versions ADD COLUMN IF NOT EXISTS transform_hashes jsonb;
-- Which process runs it (host:pid), so a run left 'running' by a process that died can be told apart.
ALTER TABLE ferry.runs ADD COLUMN IF NOT EXISTS owner text;
ALTER TABLE ferry.runs ADD COLUMN IF NOT EXISTS row_digests jsonb;
CREATE TABLE IF NOT EXISTS ferry.api_tokens (
  sha256 text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ferry.run_events (
  run_id bigint NOT NULL REFERENCES ferry.runs(id),
  seq integer NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  event jsonb NOT NULL,
  PRIMARY KEY (run_id, seq)
);
`;

/** The schema's comment once STORE_DDL (exactly this text) has run: the next open skips it. */
const STORE_MARKER = `ferry run store ${sha256(STORE_DDL)}`;

/** Sets the marker; a user that does not own the schema (made by someone else) simply runs the DDL on every open, as before. */
function markStoreSql(): string {
  return `DO $$ BEGIN EXECUTE format('COMMENT ON SCHEMA ferry IS %L', '${STORE_MARKER}'); EXCEPTION WHEN insufficient_privilege THEN NULL; END $$`;
}

async function storeMarked(db: pg.Client): Promise<boolean> {
  const r = await db.query<{ c: string | null }>(`SELECT obj_description(oid, 'pg_namespace') AS c FROM pg_namespace WHERE nspname = 'ferry'`);
  return r.rows[0]?.c === STORE_MARKER;
}

/** Taken around the DDL: CREATE ... IF NOT EXISTS races with itself. */
const STORE_DDL_LOCK = 0x66727374; // "frst"

export type PlanStatus = MigrationPlan['status'];

export interface PlanVersionRow {
  planId: string;
  revision: number;
  status: PlanStatus;
  planHash: string;
  plan: MigrationPlan;
  analysisHash: string;
  description: string;
  sourceTable: string;
  targetTable: string;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  createdAt: string;
}

export type RunMode = 'run' | 'dry_run' | 'replay';
export type RunStatus = 'running' | 'completed' | 'failed';

export interface RunRow {
  id: number;
  planId: string;
  revision: number;
  planHash: string;
  mode: RunMode;
  replayOf: number | null;
  status: RunStatus;
  startedBy: string;
  migrationId: number | null;
  bundleSha256: string | null;
  programHash: string | null;
  imageId: string | null;
  sandboxHash: string | null;
  reportHash: string | null;
  rowsChecksum: string | null;
  sourceChecksum: string | null;
  rowKeys: string[] | null;
  /** Per row key, `<source digest>:<row digest>`: what replay compares row by row. */
  rowDigests: string[] | null;
  outcome: Record<string, unknown> | null;
  errorCode: string | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface StoredEvent {
  seq: number;
  at: string;
  event: Record<string, unknown>;
}

export interface RunFinish {
  status: 'completed' | 'failed';
  migrationId?: number | null;
  imageId?: string | null;
  sandboxHash?: string | null;
  reportHash?: string | null;
  rowsChecksum?: string | null;
  sourceChecksum?: string | null;
  rowKeys?: string[] | null;
  rowDigests?: string[] | null;
  outcome?: Record<string, unknown>;
  errorCode?: string | null;
  error?: string | null;
}

const iso = (d: unknown): string => (d instanceof Date ? d.toISOString() : String(d));
const isoOrNull = (d: unknown): string | null => (d === null || d === undefined ? null : iso(d));

function toPlanVersion(r: Record<string, unknown>): PlanVersionRow {
  return {
    planId: String(r.plan_id),
    revision: Number(r.revision),
    status: r.status as PlanStatus,
    planHash: String(r.plan_hash),
    plan: MigrationPlan.parse(r.plan),
    analysisHash: String(r.analysis_hash),
    description: String(r.description),
    sourceTable: String(r.source_table),
    targetTable: String(r.target_table),
    decidedBy: (r.decided_by as string | null) ?? null,
    decidedAt: isoOrNull(r.decided_at),
    decisionNote: (r.decision_note as string | null) ?? null,
    createdAt: iso(r.created_at),
  };
}

function toRun(r: Record<string, unknown>): RunRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: Number(r.id),
    planId: String(r.plan_id),
    revision: Number(r.revision),
    planHash: String(r.plan_hash),
    mode: r.mode as RunMode,
    replayOf: num(r.replay_of),
    status: r.status as RunStatus,
    startedBy: String(r.started_by),
    migrationId: num(r.migration_id),
    bundleSha256: str(r.bundle_sha256),
    programHash: str(r.program_hash),
    imageId: str(r.image_id),
    sandboxHash: str(r.sandbox_hash),
    reportHash: str(r.report_hash),
    rowsChecksum: str(r.rows_checksum),
    sourceChecksum: str(r.source_checksum),
    rowKeys: (r.row_keys as string[] | null) ?? null,
    rowDigests: (r.row_digests as string[] | null) ?? null,
    outcome: (r.outcome as Record<string, unknown> | null) ?? null,
    errorCode: str(r.error_code),
    error: str(r.error),
    startedAt: iso(r.started_at),
    finishedAt: isoOrNull(r.finished_at),
  };
}

export interface StoreOpenOptions {
  /** PGSSLROOTCERT, for URLs whose sslmode verifies (as the CLI's connections). */
  tls?: TlsOptions;
  /** Which setting named the URL: FERRY_STATE_URL, or the target's (the default: the store lives in the target). */
  setting?: 'FERRY_STATE_URL' | 'TARGET_DATABASE_URL';
}

/**
 * The run store over one PostgreSQL connection of its own: never the connection a run
 * writes batches on, so a store write can never land inside a batch's transaction.
 */
export class RunStore {
  private constructor(private readonly db: pg.Client) {}

  /**
   * Connects and creates the `ferry` schema if it is missing (idempotent, under a lock). The
   * store takes advisory locks across statements, so like the target it needs a session: a
   * transaction-mode pooler is refused first (STATE_TRANSACTION_POOLER for FERRY_STATE_URL,
   * TARGET_TRANSACTION_POOLER when the store lives in the target), before anything is created.
   */
  static async open(url: string, options: StoreOpenOptions = {}): Promise<RunStore> {
    const own = options.setting === 'FERRY_STATE_URL';
    const check = own ? STATE_CHECK : TARGET_CHECK;
    assertNotTransactionPoolerUrl(url, check);
    const db = await connect(url, own ? 'state' : 'target', 'ferry-store', options.tls ?? {});
    try {
      await assertSessionConnection(db, url, options.tls ?? {}, check);
    } catch (e) {
      await db.end().catch(() => undefined);
      throw e;
    }
    try {
      // The DDL once per version of it: its ALTERs take ACCESS EXCLUSIVE locks and every open
      // paid three round trips. The schema's comment names the DDL that made it (storeMarker).
      if (!(await storeMarked(db))) {
        await db.query('SELECT pg_advisory_lock($1)', [STORE_DDL_LOCK]);
        try {
          // Read again under the lock: a process starting beside this one may have just made it,
          // and the DDL's locks would then wait behind that process's first writes.
          if (!(await storeMarked(db))) {
            await db.query(STORE_DDL);
            await db.query(markStoreSql());
          }
        } finally {
          await db.query('SELECT pg_advisory_unlock($1)', [STORE_DDL_LOCK]);
        }
      }
    } catch (cause) {
      await db.end().catch(() => undefined);
      throw new DatabaseError('STORE_INIT_FAILED', `could not create ferry's run store (schema ferry): ${(cause as Error).message}`, {
        cause,
        hint: 'the user needs CREATE on the database, or point FERRY_STATE_URL at a database where it has it',
      });
    }
    return new RunStore(db);
  }

  async close(): Promise<void> {
    await this.db.end().catch(() => undefined);
  }

  /** Stores an artifact under its content hash (or the hash given) and returns the hash. */
  async putArtifact(kind: string, body: unknown, hash: string = contentHash(body)): Promise<string> {
    await this.db.query('INSERT INTO ferry.artifacts (hash, kind, body) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING', [hash, kind, JSON.stringify(body)]);
    return hash;
  }

  async getArtifact(hash: string): Promise<{ kind: string; body: unknown } | null> {
    const r = await this.db.query<{ kind: string; body: unknown }>('SELECT kind, body FROM ferry.artifacts WHERE hash = $1', [hash]);
    return r.rows[0] ?? null;
  }

  async getAnalysis(hash: string): Promise<SchemaAnalysis> {
    const a = await this.getArtifact(hash);
    if (!a) throw new NotFoundError('ANALYSIS_NOT_FOUND', `the run store has no analysis ${hash.slice(0, 12)}…`);
    return SchemaAnalysis.parse(a.body);
  }

  async putBundle(bytes: Uint8Array): Promise<string> {
    const hash = sha256(bytes);
    await this.db.query('INSERT INTO ferry.bundles (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING', [hash, Buffer.from(bytes)]);
    return hash;
  }

  async getBundle(hash: string): Promise<Buffer | null> {
    // ferry's connections keep bytea as its text form (\x…hex); decoded here.
    const r = await this.db.query<{ bytes: Buffer | string }>('SELECT bytes FROM ferry.bundles WHERE sha256 = $1', [hash]);
    const v = r.rows[0]?.bytes;
    if (v === undefined) return null;
    return typeof v === 'string' ? Buffer.from(v.replace(/^\\x/, ''), 'hex') : v;
  }

  /**
   * Records a plan version (insert, or the new status of the same revision: approving keeps
   * the revision). The analysis is stored under the hash the plan names. An approved
   * revision is written once and never updated: saving other content under it is refused
   * (PLAN_TAMPERED), saving the same content again changes nothing.
   */
  async savePlan(plan: MigrationPlan, analysis?: SchemaAnalysis, decision?: { by: string; note?: string }): Promise<string> {
    if (analysis) await this.putArtifact('schema_analysis', analysis, analysisHash(analysis));
    await this.putArtifact('description', { kind: 'description', text: plan.description });
    const planHash = await this.putArtifact('migration_plan', plan);
    const decidedBy = decision?.by ?? (plan.status === 'approved' ? (plan.approvedBy ?? null) : null);
    const decided = plan.status !== 'draft';
    const r = await this.db.query(
      `INSERT INTO ferry.plan_versions (plan_id, revision, status, plan_hash, plan, analysis_hash, description, source_table, target_table, overrides, decided_by, decided_at, decision_note)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $12 THEN now() END, $13)
       ON CONFLICT (plan_id, revision) DO UPDATE
         SET status = EXCLUDED.status, plan_hash = EXCLUDED.plan_hash, plan = EXCLUDED.plan, overrides = EXCLUDED.overrides,
             decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at, decision_note = EXCLUDED.decision_note, updated_at = now()
         WHERE ferry.plan_versions.status <> 'approved'`,
      [
        plan.id,
        plan.revision,
        plan.status,
        planHash,
        JSON.stringify(plan),
        plan.analysisHash,
        plan.description,
        `${plan.source.schema}.${plan.source.table}`,
        `${plan.target.schema}.${plan.target.table}`,
        JSON.stringify(plan.overrides),
        decided ? decidedBy : null,
        decided,
        decision?.note ?? null,
      ],
    );
    // Nothing written: the revision is already approved. Only the very same content may pass.
    if ((r.rowCount ?? 0) === 0) await this.approvedHash(plan, planHash);
    return planHash;
  }

  /**
   * What `ferry run` and the service's run route check before anything runs: the store holds
   * an approval for this plan id and revision, and its content hash is this plan's. Returns
   * the approved hash; refuses with PLAN_NOT_APPROVED (no approval on record, whatever the
   * file says) or PLAN_TAMPERED (naming both hashes and the first field that differs).
   */
  async approvedHash(plan: MigrationPlan, planHash: string = contentHash(plan)): Promise<string> {
    const r = await this.db.query('SELECT status, plan_hash, plan FROM ferry.plan_versions WHERE plan_id = $1 AND revision = $2', [plan.id, plan.revision]);
    const row = r.rows[0] as { status: string; plan_hash: string; plan: unknown } | undefined;
    if (!row || row.status !== 'approved') {
      throw new PlanError(
        'PLAN_NOT_APPROVED',
        `plan ${plan.id} revision ${plan.revision} says "${plan.status}", but the run store has no approval for it (${row ? `it is recorded as ${row.status}` : 'it is not recorded at all'}); a plan file alone cannot approve itself`,
        { hint: `review and approve it: ferry approve <plan.json> (or ferry review <plan.json>), then run it again`, details: { planId: plan.id, revision: plan.revision, recorded: row?.status ?? null } },
      );
    }
    if (row.plan_hash !== planHash) {
      const field = firstDifference(row.plan, plan) ?? '$';
      throw new PlanError(
        'PLAN_TAMPERED',
        `plan ${plan.id} revision ${plan.revision} is not the plan that was approved: approved content hash ${row.plan_hash}, this plan's ${planHash}; first difference at ${field}`,
        {
          hint: 'restore the approved plan (ferry show <plan id> prints it from the run store), or make the change as a new revision: ferry approve <plan.json> --map/--fk/--column …',
          details: { approvedHash: row.plan_hash, planHash, field },
        },
      );
    }
    return row.plan_hash;
  }

  /**
   * Pins the model-written function bodies of an approved revision (sha256 per target
   * column). Written once: a second call with other hashes is refused (TRANSFORMS_TAMPERED).
   */
  async pinTransforms(plan: MigrationPlan, hashes: Record<string, string>): Promise<void> {
    await this.approvedHash(plan);
    await this.db.query(
      `UPDATE ferry.plan_versions SET transform_hashes = $3 WHERE plan_id = $1 AND revision = $2 AND transform_hashes IS NULL`,
      [plan.id, plan.revision, JSON.stringify(hashes)],
    );
    const pinned = await this.transformHashes(plan);
    const field = firstDifference(pinned, hashes);
    if (field) {
      throw new PlanError('TRANSFORMS_TAMPERED', `plan ${plan.id} revision ${plan.revision} already has other model-written functions approved (first difference at ${field})`, {
        hint: 'restore <plan>.transforms.json as it was approved, or make a new revision of the plan and approve that',
      });
    }
  }

  /** The function-body hashes an approval pinned, or null when none were (the plan needs none, or none were written yet). */
  async transformHashes(plan: MigrationPlan): Promise<Record<string, string> | null> {
    const r = await this.db.query('SELECT transform_hashes FROM ferry.plan_versions WHERE plan_id = $1 AND revision = $2', [plan.id, plan.revision]);
    return (r.rows[0]?.transform_hashes as Record<string, string> | null | undefined) ?? null;
  }

  /**
   * Saves a freshly made plan. The same description against the same tables gives the same
   * plan id; when that id is already stored, the new plan becomes its next revision instead
   * of overwriting a version someone may have approved and run. Returns the plan as stored.
   */
  async saveNewPlan(plan: MigrationPlan, analysis?: SchemaAnalysis): Promise<{ plan: MigrationPlan; planHash: string }> {
    const r = await this.db.query('SELECT max(revision) AS rev FROM ferry.plan_versions WHERE plan_id = $1', [plan.id]);
    const latest = r.rows[0]?.rev as number | null | undefined;
    const stored: MigrationPlan =
      latest === null || latest === undefined
        ? plan
        : {
            ...plan,
            revision: latest + 1,
            overrides: [...plan.overrides, { at: plan.createdAt, by: 'ferry plan', what: `planned again from the description (revision ${latest} and earlier are kept)` }],
          };
    return { plan: stored, planHash: await this.savePlan(stored, analysis) };
  }

  /** The latest revision of every plan, newest first. */
  async listPlans(): Promise<PlanVersionRow[]> {
    const r = await this.db.query(
      `SELECT DISTINCT ON (plan_id) * FROM ferry.plan_versions ORDER BY plan_id, revision DESC`,
    );
    return r.rows.map(toPlanVersion).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.planId.localeCompare(b.planId));
  }

  async listVersions(planId: string): Promise<PlanVersionRow[]> {
    const r = await this.db.query('SELECT * FROM ferry.plan_versions WHERE plan_id = $1 ORDER BY revision', [planId]);
    return r.rows.map(toPlanVersion);
  }

  /** One revision, or the latest when none is named. */
  async getPlan(planId: string, revision?: number): Promise<PlanVersionRow> {
    const r =
      revision === undefined
        ? await this.db.query('SELECT * FROM ferry.plan_versions WHERE plan_id = $1 ORDER BY revision DESC LIMIT 1', [planId])
        : await this.db.query('SELECT * FROM ferry.plan_versions WHERE plan_id = $1 AND revision = $2', [planId, revision]);
    const row = r.rows[0];
    if (!row) {
      throw new NotFoundError('PLAN_NOT_FOUND', `the run store has no plan ${planId}${revision === undefined ? '' : ` revision ${revision}`}`, {
        hint: 'list plans with GET /api/plans, or make one with ferry plan',
      });
    }
    return toPlanVersion(row);
  }

  /**
   * Creates a run record. With `onceKey`, a second start for the same key returns the run
   * already recorded instead (created: false) — one database round trip decides it, so two
   * concurrent starts cannot both win.
   */
  async createRun(input: {
    plan: MigrationPlan;
    mode: RunMode;
    startedBy: string;
    replayOf?: number;
    onceKey?: string;
    /** host:pid of the process running it; this process unless said otherwise. */
    owner?: string;
  }): Promise<{ run: RunRow; created: boolean }> {
    const planHash = await this.putArtifact('migration_plan', input.plan);
    const r = await this.db.query(
      `INSERT INTO ferry.runs (plan_id, revision, plan_hash, mode, replay_of, once_key, status, started_by, owner)
       VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8) ON CONFLICT (once_key) DO NOTHING RETURNING *`,
      [input.plan.id, input.plan.revision, planHash, input.mode, input.replayOf ?? null, input.onceKey ?? null, input.startedBy, input.owner ?? runOwner()],
    );
    if (r.rows[0]) return { run: toRun(r.rows[0]), created: true };
    const existing = await this.db.query('SELECT * FROM ferry.runs WHERE once_key = $1', [input.onceKey]);
    return { run: toRun(existing.rows[0]!), created: false };
  }

  /** What the run executed: the program and its bundle bytes. */
  async attachProgram(runId: number, program: { script: unknown; bundleBytes: Uint8Array }): Promise<{ programHash: string; bundleSha256: string }> {
    const programHash = await this.putArtifact('generated_script', program.script);
    const bundleSha256 = await this.putBundle(program.bundleBytes);
    await this.db.query('UPDATE ferry.runs SET program_hash = $2, bundle_sha256 = $3 WHERE id = $1', [runId, programHash, bundleSha256]);
    return { programHash, bundleSha256 };
  }

  async appendEvent(runId: number, seq: number, event: Record<string, unknown>): Promise<void> {
    await this.db.query('INSERT INTO ferry.run_events (run_id, seq, event) VALUES ($1, $2, $3)', [runId, seq, JSON.stringify(event)]);
  }

  /** Ends a run. A failed run frees its once-key: the same plan version may be tried again. */
  async finishRun(runId: number, f: RunFinish): Promise<RunRow> {
    const r = await this.db.query(
      `UPDATE ferry.runs
          SET status = $2, migration_id = $3, image_id = $4, sandbox_hash = $5, report_hash = $6, rows_checksum = $7,
              source_checksum = $8, row_keys = $9, outcome = $10, error_code = $11, error = $12, row_digests = $13, finished_at = now(),
              once_key = CASE WHEN $2 = 'failed' THEN NULL ELSE once_key END
        WHERE id = $1 RETURNING *`,
      [
        runId,
        f.status,
        f.migrationId ?? null,
        f.imageId ?? null,
        f.sandboxHash ?? null,
        f.reportHash ?? null,
        f.rowsChecksum ?? null,
        f.sourceChecksum ?? null,
        f.rowKeys ? JSON.stringify(f.rowKeys) : null,
        f.outcome ? JSON.stringify(f.outcome) : null,
        f.errorCode ?? null,
        f.error ?? null,
        f.rowDigests ? JSON.stringify(f.rowDigests) : null,
      ],
    );
    return toRun(r.rows[0]!);
  }

  /**
   * The recorded run that wrote migration `migrationId` of the target `targetId` (its
   * migration id is kept when the run ends, and in its first event while it runs), with the
   * plan it ran as the store keeps it. Null when no recorded run wrote it. Migration ids are
   * per target, so one store serving several targets holds a migration 1 for each: only a
   * run whose started event for this migration (a queued run has one per range) names this
   * target counts. Runs recorded before targets were
   * named (no targetId in their event) still count, after any run that names this target.
   */
  async migrationRecord(migrationId: number, targetId?: string): Promise<{ runId: number; planHash: string; plan: MigrationPlan } | null> {
    const r = await this.db.query<{ id: string; plan_hash: string; body: unknown }>(
      `SELECT r.id, r.plan_hash, a.body
         FROM ferry.runs r JOIN ferry.artifacts a ON a.hash = r.plan_hash
         LEFT JOIN LATERAL (
           SELECT e.event FROM ferry.run_events e
            WHERE e.run_id = r.id AND e.event->>'type' = 'started' AND e.event->>'migrationId' = $1::bigint::text
            ORDER BY e.seq LIMIT 1
         ) s ON true
        WHERE r.mode = 'run'
          AND (r.migration_id = $1::bigint OR s.event IS NOT NULL)
          AND ($2::text IS NULL OR s.event->>'targetId' IS NULL OR s.event->>'targetId' = $2::text)
        ORDER BY (s.event->>'targetId' IS NOT DISTINCT FROM $2::text) DESC, r.id
        LIMIT 1`,
      [migrationId, targetId ?? null],
    );
    const row = r.rows[0];
    return row ? { runId: Number(row.id), planHash: row.plan_hash, plan: MigrationPlan.parse(row.body) } : null;
  }

  async getRun(id: number): Promise<RunRow> {
    const r = await this.db.query('SELECT * FROM ferry.runs WHERE id = $1', [id]);
    if (!r.rows[0]) throw new NotFoundError('RUN_NOT_FOUND', `the run store has no run ${id}`, { hint: 'list runs with ferry runs or GET /api/runs' });
    return toRun(r.rows[0]);
  }

  async listRuns(filter: { planId?: string; limit?: number } = {}): Promise<RunRow[]> {
    const r = await this.db.query('SELECT * FROM ferry.runs WHERE ($1::text IS NULL OR plan_id = $1) ORDER BY id DESC LIMIT $2', [
      filter.planId ?? null,
      filter.limit ?? 100,
    ]);
    return r.rows.map(toRun);
  }

  /**
   * Marks failed the runs this host's processes left 'running' when they died (their pid
   * is gone), which frees their once-keys: the plan version can be started again. Runs of
   * other hosts are left alone — this host cannot tell whether they still run.
   */
  async failAbandoned(isAlive: (pid: number) => boolean = pidAlive): Promise<number[]> {
    const host = hostname();
    const r = await this.db.query<{ id: string; owner: string }>(`SELECT id, owner FROM ferry.runs WHERE status = 'running' AND owner LIKE $1`, [`${host}:%`]);
    const dead = r.rows.filter((x) => !isAlive(Number(x.owner.slice(host.length + 1)))).map((x) => Number(x.id));
    if (dead.length === 0) return [];
    await this.db.query(
      `UPDATE ferry.runs SET status = 'failed', error_code = 'RUN_ABANDONED', error = 'the process running it ended before it finished', finished_at = now(), once_key = NULL
        WHERE id = ANY($1::bigint[]) AND status = 'running'`,
      [dead],
    );
    return dead;
  }

  /** sha256 of the service's generated API token, if one was made (the token itself is never kept). */
  async apiTokenHash(): Promise<string | null> {
    const r = await this.db.query<{ sha256: string }>('SELECT sha256 FROM ferry.api_tokens ORDER BY created_at LIMIT 1');
    return r.rows[0]?.sha256 ?? null;
  }

  /** Keeps the hash of a generated token; false when another process made one first. */
  async saveApiTokenHash(hash: string): Promise<boolean> {
    const r = await this.db.query(
      'INSERT INTO ferry.api_tokens (sha256) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM ferry.api_tokens)',
      [hash],
    );
    return (r.rowCount ?? 0) === 1;
  }

  async events(runId: number, afterSeq = 0): Promise<StoredEvent[]> {
    const r = await this.db.query<{ seq: number; at: Date; event: Record<string, unknown> }>(
      'SELECT seq, at, event FROM ferry.run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq',
      [runId, afterSeq],
    );
    return r.rows.map((x) => ({ seq: x.seq, at: iso(x.at), event: x.event }));
  }
}

export function runOwner(): string {
  return `${hostname()}:${process.pid}`;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, owned by someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
