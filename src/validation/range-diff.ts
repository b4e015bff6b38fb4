import { performance } from 'node:perf_hooks';
import { quoteIdent, type Queryable, type SqlFragment } from '../core/sql.js';
import type { CompiledColumn, PlanSql } from './plan-sql.js';

/**
 * Every migrated row compared, data-diff style, across two databases and through the key
 * remap. Each row's hash is computed where the row lives: on the source from the plan's SQL
 * form (what the target must hold), on the target from what it holds, reached through
 * migration_mappings — both keyed by the legacy key. The key space is cut into segments
 * (one query per side gives every segment's count and hash sum); only segments that differ
 * are cut again, until they are small enough to compare row by row (key, hash). The rows
 * that differ are then fetched column by column (fetchRows) to say what differs.
 *
 * Segments are identified by their lower bound in a sorted threshold array that only grows:
 * `width_bucket(key, thresholds)` puts every row of either side into the same segment.
 */

/** One side of a diff: rows with a legacy key and a hash. */
export interface Relation {
  /** `FROM … WHERE …` (always with a WHERE), with its parameters. */
  from: SqlFragment;
  /** The same rows read from a sample (TABLESAMPLE percent), to cut text keys on large tables. */
  sampled?: (percent: string) => SqlFragment;
  /** The key, in range order (integer class: castable to bigint; text class: COLLATE "C"). */
  key: string;
  hash: string;
  /** True when the row exists (a mapping's target row may not). */
  present: string;
  newId: string;
}

/** What a diff compares: two relations keyed alike. */
export interface DiffSpec {
  keyClass: 'integer' | 'text';
  compareKeys: (a: string, b: string) => number;
  source: Relation;
  target: Relation;
}

/** The migrated rows: the plan's derivation on the source, the target rows through the mappings. */
export function planRelations(sql: PlanSql): DiffSpec {
  const w = sql.source.where;
  const srcFrom = (sample: string) => ({ sql: `FROM ${sql.source.table} src ${sample} ${w.sql || 'WHERE true'}`, params: w.params });
  return {
    keyClass: sql.keyClass,
    compareKeys: sql.compareKeys,
    source: { from: srcFrom(''), sampled: (pct) => srcFrom(`TABLESAMPLE BERNOULLI (${pct})`), key: sql.srcKey, hash: rowHashSql(sql, 'source'), present: 'true', newId: 'NULL::text' },
    target: { from: sql.targetFrom, key: sql.tgtKey, hash: rowHashSql(sql, 'target'), present: sql.tgtPresent, newId: sql.tgtNewId },
  };
}

/**
 * The legacy values of one reference column (under the plan's filter) that no parent
 * mapping knows: the orphans. The distinct values travel from the source to the target,
 * which keeps those without a mapping (an anti-join on the mappings' unique key).
 */
export async function unmappedValues(opts: { source: Queryable; target: Queryable; sql: PlanSql; column: CompiledColumn }): Promise<string[]> {
  const { sql, column } = opts;
  const ref = column.ref;
  if (!ref) throw new Error(`${column.target} is not a reference`);
  const s = `src.${quoteIdent(ref.sourceColumn)}`;
  const w = sql.source.where;
  const r = await opts.source.query<{ v: string }>(`SELECT DISTINCT ${s}::text AS v FROM ${sql.source.table} src ${w.sql ? `${w.sql} AND` : 'WHERE'} ${s} IS NOT NULL`, w.params);
  const values = r.rows.map((x) => x.v);
  const out: string[] = [];
  const CHUNK = 200_000;
  for (let i = 0; i < values.length; i += CHUNK) {
    const u = await opts.target.query<{ v: string }>(
      `SELECT v FROM unnest($3::text[]) v WHERE NOT EXISTS (SELECT 1 FROM ferry_control.migration_mappings p WHERE p.source_table = $1 AND p.target_table = $2 AND p.legacy_id = v)`,
      [ref.parentSourceTable, ref.parentTargetTable, values.slice(i, i + CHUNK)],
    );
    for (const x of u.rows) out.push(x.v);
  }
  return out;
}

export interface RangeDiffOptions {
  source: Queryable;
  target: Queryable;
  spec: DiffSpec;
  /** Rows per segment aimed at when cutting (default 128). */
  segmentRows?: number;
  /** A differing segment with at most this many rows on each side is compared row by row (default 256). */
  leafRows?: number;
  /** At most this many segments on the first level (default 16384). */
  maxSegments?: number;
  /** At most this many pieces a differing segment is cut into (default 1024). */
  fanout?: number;
  /** Give up (aborted) when more first-level segments than this differ. */
  stopAbove?: number;
}

export interface RangeDiffStats {
  /** Segment checksums compared, all levels. */
  segments: number;
  /** Checksum levels (1 when no segment differs). */
  levels: number;
  /** Rows fetched as (key, hash) from differing segments, both sides. */
  rowsFetched: number;
  ms: number;
}

export interface RangeDiffResult {
  sourceRows: number;
  /** The pair's mappings, with or without a target row. */
  mappings: number;
  /** Mappings whose target row exists. */
  migrated: number;
  /** Source rows (under the filter) with no mapping. */
  missing: string[];
  /** Source rows whose mapping points at no target row. */
  dangling: Array<{ key: string; newId: string }>;
  /** Mappings with no source row under the filter. */
  extra: Array<{ key: string; present: boolean; newId: string }>;
  /** Rows on both sides whose content differs. */
  differs: string[];
  stats: RangeDiffStats;
  /** stopAbove was exceeded: nothing but the totals is filled in. */
  aborted?: true;
}

type Bound = string; // a threshold: a bigint in decimal, or a text key

interface Agg {
  n: number;
  s: string;
  lo: string;
  hi: string;
  present: number;
}

const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x));

/**
 * A row as one text — the record's text form quotes every field, so no value can pass for
 * two — hashed to a number: hashtextextended (PostgreSQL 11+, stable across versions since)
 * or the first 60 bits of md5.
 */
function rowHashSql(sql: PlanSql, side: 'source' | 'target'): string {
  const text =
    side === 'source'
      ? `ROW(${[sql.srcKeyText, ...sql.columns.map((c) => c.srcExpr)].join(', ')})::text`
      : `(CASE WHEN ${sql.tgtPresent} THEN ROW(${['m.legacy_id', ...sql.columns.map((c) => c.tgtExpr)].join(', ')})::text ELSE '!absent' END)`;
  return hashSql(sql.hash, text);
}

function hashSql(hash: PlanSql['hash'], text: string): string {
  return hash === 'hashtextextended' ? `hashtextextended(${text}, 0)` : `('x' || substr(md5(${text}), 1, 15))::bit(60)::bigint`;
}

/** One side's queries, over rows in the wanted segments (all when `wanted` is null). */
class Side {
  constructor(
    readonly db: Queryable,
    readonly rel: Relation,
    readonly keyClass: 'integer' | 'text',
  ) {}

  private parts(thresholds: Bound[], wanted: number[] | null, envelope: { lo: Bound | null; hi: Bound | null }) {
    const r = this.rel;
    const params = [...r.from.params];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const cast = this.keyClass === 'integer' ? '::bigint' : '';
    const bucket = thresholds.length === 0 ? '0' : `width_bucket(${r.key}${cast}, ${p(thresholds)}::${this.keyClass === 'integer' ? 'bigint[]' : 'text[]'})`;
    const cond: string[] = [];
    if (envelope.lo !== null) cond.push(`${r.key} >= ${p(envelope.lo)}${cast}`);
    if (envelope.hi !== null) cond.push(`${r.key} < ${p(envelope.hi)}${cast}`);
    const from = `${r.from.sql}${cond.length ? ` AND ${cond.join(' AND ')}` : ''}`;
    const filter = wanted === null ? '' : `WHERE b = ANY(${p(wanted)}::int[])`;
    const inner = `SELECT ${bucket} AS b, ${r.key} AS k, ${r.hash} AS h, ${r.present} AS present, ${r.newId} AS new_id ${from}`;
    return { inner, filter, params };
  }

  async checksums(thresholds: Bound[], wanted: number[] | null, envelope: { lo: Bound | null; hi: Bound | null }): Promise<Map<number, Agg>> {
    const { inner, filter, params } = this.parts(thresholds, wanted, envelope);
    const r = await this.db.query<{ b: number; n: string; s: string; lo: string; hi: string; present: string }>(
      `SELECT b, count(*) AS n, sum(h)::text AS s, min(k)::text AS lo, max(k)::text AS hi, count(*) FILTER (WHERE present) AS present
         FROM (${inner}) x ${filter} GROUP BY b`,
      params,
    );
    return new Map(r.rows.map((x) => [Number(x.b), { n: Number(x.n), s: x.s, lo: x.lo, hi: x.hi, present: Number(x.present) }]));
  }

  async rows(thresholds: Bound[], wanted: number[], envelope: { lo: Bound | null; hi: Bound | null }) {
    const { inner, filter, params } = this.parts(thresholds, wanted, envelope);
    const r = await this.db.query<{ k: string; h: string; present: boolean; new_id: string | null }>(
      `SELECT k::text AS k, h::text AS h, present, new_id FROM (${inner}) x ${filter}`,
      params,
    );
    return r.rows;
  }

  /** Percentile keys of each wanted segment: where to cut it. */
  async percentiles(thresholds: Bound[], wanted: number[], pieces: number, envelope: { lo: Bound | null; hi: Bound | null }): Promise<Map<number, Bound[]>> {
    const { inner, filter, params } = this.parts(thresholds, wanted, envelope);
    params.push(Array.from({ length: pieces - 1 }, (_, i) => (i + 1) / pieces));
    const r = await this.db.query<{ b: number; p: Array<string | null> }>(
      `SELECT b, percentile_disc($${params.length}::float8[]) WITHIN GROUP (ORDER BY k) AS p FROM (${inner}) x ${filter} GROUP BY b`,
      params,
    );
    return new Map(r.rows.map((x) => [Number(x.b), x.p.filter((v): v is string => v !== null).map(String)]));
  }
}

/** The first level's thresholds, from the source: equal-width integer ranges, or percentile keys (sampled on large tables). */
async function firstThresholds(db: Queryable, spec: DiffSpec, segmentRows: number, maxSegments: number): Promise<{ thresholds: Bound[]; rows: number }> {
  const rel = spec.source;
  const stat = await db.query<{ n: string; lo: string | null; hi: string | null }>(
    `SELECT count(*) AS n, min(${rel.key})::text AS lo, max(${rel.key})::text AS hi ${rel.from.sql}`,
    rel.from.params,
  );
  const n = Number(stat.rows[0]?.n ?? 0);
  const lo = stat.rows[0]?.lo ?? null;
  const hi = stat.rows[0]?.hi ?? null;
  const pieces = clamp(Math.ceil(n / segmentRows), 1, maxSegments);
  if (pieces <= 1 || lo === null || hi === null) return { thresholds: [], rows: n };
  if (spec.keyClass === 'integer') return { thresholds: equalWidth(BigInt(lo), BigInt(hi), pieces), rows: n };
  const sampleRows = 200_000;
  const from = n > sampleRows && rel.sampled ? rel.sampled(((100 * sampleRows) / n).toFixed(6)) : rel.from;
  const params = [...from.params, Array.from({ length: pieces - 1 }, (_, i) => (i + 1) / pieces)];
  const r = await db.query<{ p: Array<string | null> | null }>(
    `SELECT percentile_disc($${params.length}::float8[]) WITHIN GROUP (ORDER BY ${rel.key}) AS p ${from.sql}`,
    params,
  );
  const cmp = spec.compareKeys;
  return { thresholds: dedupeSorted((r.rows[0]?.p ?? []).filter((v): v is string => v !== null), cmp), rows: n };
}

/** Thresholds cutting [lo, hi] into `pieces` ranges of equal width, each > lo. */
function equalWidth(lo: bigint, hi: bigint, pieces: number): Bound[] {
  const span = hi - lo + 1n;
  const step = (span + BigInt(pieces) - 1n) / BigInt(pieces);
  const out: Bound[] = [];
  if (step <= 0n) return out;
  for (let v = lo + step; v <= hi; v += step) out.push(v.toString());
  return out;
}

function dedupeSorted(xs: Bound[], cmp: (a: Bound, b: Bound) => number): Bound[] {
  const s = [...xs].sort(cmp);
  return s.filter((v, i) => i === 0 || cmp(v, s[i - 1]!) !== 0);
}

/**
 * A cheap look before the whole diff: the checksums of `count` first-level segments spread
 * over the key space (the target still reads every mapping, but joins and hashes only
 * those). Returns the share of them that differ.
 */
export async function probeSegments(opts: RangeDiffOptions & { count: number }): Promise<number> {
  const spec = opts.spec;
  const { thresholds } = await firstThresholds(opts.source, spec, opts.segmentRows ?? 128, opts.maxSegments ?? 16384);
  const all = thresholds.length + 1;
  const step = Math.max(1, Math.floor(all / opts.count));
  const wanted = Array.from({ length: Math.ceil(all / step) }, (_, i) => i * step);
  const src = new Side(opts.source, spec.source, spec.keyClass);
  const tgt = new Side(opts.target, spec.target, spec.keyClass);
  const env = { lo: null, hi: null };
  const [a, b] = await Promise.all([src.checksums(thresholds, wanted, env), tgt.checksums(thresholds, wanted, env)]);
  let differ = 0;
  for (const k of wanted) {
    const x = a.get(k);
    const y = b.get(k);
    if ((x?.n ?? 0) !== (y?.n ?? 0) || (x?.s ?? null) !== (y?.s ?? null)) differ += 1;
  }
  return differ / wanted.length;
}

/** Segment `b` (1-based past the thresholds, 0 below the first) maps to and from its lower bound. */
function indexOf(ts: Bound[]): (lower: Bound | null) => number {
  const m = new Map(ts.map((t, i) => [t, i + 1]));
  return (lower: Bound | null) => (lower === null ? 0 : m.get(lower)!);
}
const lowerOf = (ts: Bound[], b: number): Bound | null => (b === 0 ? null : ts[b - 1]!);
const upperOf = (ts: Bound[], b: number): Bound | null => (b >= ts.length ? null : ts[b]!);
/** The key range holding every one of `buckets`: bounds for the queries, so an index serves them. */
function envelopeOf(ts: Bound[], buckets: number[]): { lo: Bound | null; hi: Bound | null } {
  if (buckets.length === 0) return { lo: null, hi: null };
  const min = Math.min(...buckets);
  const max = Math.max(...buckets);
  return { lo: lowerOf(ts, min), hi: upperOf(ts, max) };
}

type Totals = Pick<RangeDiffResult, 'sourceRows' | 'mappings' | 'migrated'>;

/** The first level covers every row: its sums are the totals. */
function totalsOf(a: Map<number, Agg>, b: Map<number, Agg>): Totals {
  let sourceRows = 0;
  let mappings = 0;
  let migrated = 0;
  for (const x of a.values()) sourceRows += x.n;
  for (const x of b.values()) {
    mappings += x.n;
    migrated += x.present;
  }
  return { sourceRows, mappings, migrated };
}

/** A differing segment too large to compare row by row: to be cut at the next level. */
interface SplitSegment {
  bucket: number;
  n: number;
  lo: Bound;
  hi: Bound;
  larger: 'source' | 'target';
}

/**
 * The segments whose checksums differ: small ones go to `leaves` (compared row by row), the
 * others are returned to be cut.
 */
function differingSegments(a: Map<number, Agg>, b: Map<number, Agg>, thresholds: Bound[], leafRows: number, cmp: (x: Bound, y: Bound) => number, leaves: Array<Bound | null>): SplitSegment[] {
  const split: SplitSegment[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (x && y && x.n === y.n && x.s === y.s) continue;
    const n = Math.max(x?.n ?? 0, y?.n ?? 0);
    if (n <= leafRows) {
      leaves.push(lowerOf(thresholds, k));
      continue;
    }
    const lo = [x?.lo, y?.lo].filter((v): v is string => v != null).sort(cmp)[0]!;
    const hi = [x?.hi, y?.hi].filter((v): v is string => v != null).sort(cmp).at(-1)!;
    split.push({ bucket: k, n, lo, hi, larger: (x?.n ?? 0) >= (y?.n ?? 0) ? 'source' : 'target' });
  }
  return split;
}

interface Level {
  spec: DiffSpec;
  src: Side;
  tgt: Side;
  segmentRows: number;
  fanout: number;
}

/** Where to cut each large differing segment, into pieces of about segmentRows rows. */
async function cutsOf(lv: Level, thresholds: Bound[], split: SplitSegment[]): Promise<Map<number, Bound[]>> {
  const cutOf = new Map<number, Bound[]>();
  if (lv.spec.keyClass === 'integer') {
    for (const s of split) cutOf.set(s.bucket, equalWidth(BigInt(s.lo), BigInt(s.hi), clamp(Math.ceil(s.n / lv.segmentRows), 2, lv.fanout)));
    return cutOf;
  }
  const pieces = clamp(Math.ceil(Math.max(...split.map((s) => s.n)) / lv.segmentRows), 2, lv.fanout);
  const bySide = (w: 'source' | 'target') => split.filter((s) => s.larger === w).map((s) => s.bucket);
  const sw = bySide('source');
  const tw = bySide('target');
  const [ps, pt] = await Promise.all([
    sw.length ? lv.src.percentiles(thresholds, sw, pieces, envelopeOf(thresholds, sw)) : new Map<number, Bound[]>(),
    tw.length ? lv.tgt.percentiles(thresholds, tw, pieces, envelopeOf(thresholds, tw)) : new Map<number, Bound[]>(),
  ]);
  for (const s of split) cutOf.set(s.bucket, (s.larger === 'source' ? ps : pt).get(s.bucket) ?? []);
  return cutOf;
}

/**
 * The next level: the thresholds with the cuts added and the segments to checksum there, or
 * null when no segment could be cut (those that cannot go to `leaves`).
 */
async function nextLevel(lv: Level, thresholds: Bound[], split: SplitSegment[], leaves: Array<Bound | null>): Promise<{ thresholds: Bound[]; wanted: number[] } | null> {
  const cmp = lv.spec.compareKeys;
  const cutOf = await cutsOf(lv, thresholds, split);
  const added: Bound[] = [];
  const nextLowers: Array<Bound | null> = [];
  for (const s of split) {
    // Cuts strictly inside the segment: above its smallest key (so above its lower bound), at most its largest.
    const cuts = dedupeSorted((cutOf.get(s.bucket) ?? []).filter((c) => cmp(c, s.lo) > 0 && cmp(c, s.hi) <= 0), cmp);
    if (cuts.length === 0) {
      leaves.push(lowerOf(thresholds, s.bucket)); // cannot be cut (one key): compare its rows
      continue;
    }
    added.push(...cuts);
    nextLowers.push(lowerOf(thresholds, s.bucket), ...cuts);
  }
  if (nextLowers.length === 0) return null;
  const next = dedupeSorted([...thresholds, ...added], cmp);
  return { thresholds: next, wanted: nextLowers.map(indexOf(next)) };
}

/** The rows of the leaf segments, fetched on both sides and compared by key and hash into `out`. */
async function compareLeaves(lv: Level, thresholds: Bound[], leaves: Array<Bound | null>, out: RangeDiffResult): Promise<void> {
  const cmp = lv.spec.compareKeys;
  const w = [...new Set(leaves.map(indexOf(thresholds)))];
  const env = envelopeOf(thresholds, w);
  const [a, b] = await Promise.all([lv.src.rows(thresholds, w, env), lv.tgt.rows(thresholds, w, env)]);
  out.stats.rowsFetched = a.length + b.length;
  const srcRows = new Map(a.map((r) => [r.k, r.h]));
  const tgtRows = new Map(b.map((r) => [r.k, r]));
  for (const [k, h] of srcRows) {
    const t = tgtRows.get(k);
    if (!t) out.missing.push(k);
    else if (!t.present) out.dangling.push({ key: k, newId: String(t.new_id) });
    else if (t.h !== h) out.differs.push(k);
  }
  for (const [k, t] of tgtRows) if (!srcRows.has(k)) out.extra.push({ key: k, present: t.present, newId: String(t.new_id) });
  const order = (xs: string[]) => xs.sort(cmp);
  order(out.missing);
  order(out.differs);
  out.dangling.sort((x, y) => cmp(x.key, y.key));
  out.extra.sort((x, y) => cmp(x.key, y.key));
}

export async function rangeDiff(opts: RangeDiffOptions): Promise<RangeDiffResult> {
  const started = performance.now();
  const segmentRows = opts.segmentRows ?? 128;
  const leafRows = opts.leafRows ?? 256;
  const maxSegments = opts.maxSegments ?? 16384;
  const spec = opts.spec;
  const lv: Level = {
    spec,
    src: new Side(opts.source, spec.source, spec.keyClass),
    tgt: new Side(opts.target, spec.target, spec.keyClass),
    segmentRows,
    fanout: Math.max(2, opts.fanout ?? 1024),
  };
  const stats: RangeDiffStats = { segments: 0, levels: 0, rowsFetched: 0, ms: 0 };

  let thresholds = (await firstThresholds(opts.source, spec, segmentRows, maxSegments)).thresholds;
  let totals: Totals | null = null;
  let wanted: number[] | null = null; // null: every segment
  const leaves: Array<Bound | null> = []; // lower bounds of segments to compare row by row
  for (;;) {
    stats.levels += 1;
    const env = wanted === null ? { lo: null, hi: null } : envelopeOf(thresholds, wanted);
    const [a, b] = await Promise.all([lv.src.checksums(thresholds, wanted, env), lv.tgt.checksums(thresholds, wanted, env)]);
    if (totals === null) totals = totalsOf(a, b);
    stats.segments += new Set([...a.keys(), ...b.keys()]).size;
    const split = differingSegments(a, b, thresholds, leafRows, spec.compareKeys, leaves);
    if (stats.levels === 1 && opts.stopAbove !== undefined && split.length + leaves.length > opts.stopAbove) {
      stats.ms = Math.round(performance.now() - started);
      return { ...totals, missing: [], dangling: [], extra: [], differs: [], stats, aborted: true };
    }
    if (split.length === 0) break;
    const next = await nextLevel(lv, thresholds, split, leaves);
    if (next === null) break;
    ({ thresholds, wanted } = next);
    if (stats.levels > 64) throw new Error('range diff did not converge');
  }

  const out: RangeDiffResult = { ...totals!, missing: [], dangling: [], extra: [], differs: [], stats };
  if (leaves.length) await compareLeaves(lv, thresholds, leaves, out);
  stats.ms = Math.round(performance.now() - started);
  return out;
}

export interface RowTexts {
  /** Per compiled column (same order as sql.columns): the text the plan derives / the target holds. */
  values: Array<string | null>;
  /** Source side: raw source column texts (sql.rawSources order). Target side: raw reference values. */
  raw: Array<string | null>;
}

/** The column texts of some rows on both sides, by legacy key: what differs, said per column. */
export async function fetchRows(opts: { source: Queryable; target: Queryable; sql: PlanSql; keys: string[] }): Promise<{ source: Map<string, RowTexts>; target: Map<string, RowTexts> }> {
  const { sql, keys } = opts;
  const source = new Map<string, RowTexts>();
  const target = new Map<string, RowTexts>();
  const CHUNK = 5000;
  // The keys are the last parameter on each side: the same SQL for every chunk.
  const keyParam = sql.source.where.params.length + 1;
  const keyMatch = sql.keyClass === 'integer' ? `${sql.srcKey} = ANY($${keyParam}::bigint[])` : `${sql.srcKeyText} = ANY($${keyParam}::text[])`;
  const w = sql.source.where.sql;
  const srcCols = [...sql.columns.map((c, j) => `${c.srcExpr} AS c${j}`), ...sql.rawSources.map((r, j) => `${r} AS r${j}`)];
  const refs = sql.columns.filter((c) => c.ref);
  const tgtCols = [...sql.columns.map((c, j) => `${c.tgtExpr} AS c${j}`), ...refs.map((c, j) => `${c.ref!.raw} AS r${j}`)];
  const srcSql = `SELECT ${sql.srcKeyText} AS k${srcCols.length ? `, ${srcCols.join(', ')}` : ''} FROM ${sql.source.table} src ${w}${w ? ' AND ' : ' WHERE '}${keyMatch}`;
  const tgtSql = `SELECT m.legacy_id AS k${tgtCols.length ? `, ${tgtCols.join(', ')}` : ''} ${sql.targetFrom.sql} AND m.legacy_id = ANY($${sql.targetFrom.params.length + 1}::text[])`;
  for (let i = 0; i < keys.length; i += CHUNK) {
    const part = keys.slice(i, i + CHUNK);
    const [a, b] = await Promise.all([
      opts.source.query<Record<string, string | null>>(srcSql, [...sql.source.where.params, part]),
      opts.target.query<Record<string, string | null>>(tgtSql, [...sql.targetFrom.params, part]),
    ]);
    for (const r of a.rows) source.set(String(r.k), { values: sql.columns.map((_, j) => r[`c${j}`] ?? null), raw: sql.rawSources.map((_, j) => r[`r${j}`] ?? null) });
    for (const r of b.rows) target.set(String(r.k), { values: sql.columns.map((_, j) => r[`c${j}`] ?? null), raw: refs.map((_, j) => r[`r${j}`] ?? null) });
  }
  return { source, target };
}
