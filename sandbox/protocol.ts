/**
 * The row stream between the orchestrator and the program, over a kernel channel (a unix
 * socket the orchestrator serves), kept apart from stdout/stderr so that a log line can
 * never be taken for data.
 *
 * Everything here is pure (no I/O, no dependencies beyond types) because the in-container
 * harness bundles it too: both ends read and write the same frames.
 *
 * Control frames are one JSON line each (the handshake stays JSON, so others can extend it):
 *   program → orchestrator: {"v":1,"t":"ready","token":"…"} first (the run's secret, see
 *     checkHello), {"v":1,"t":"error","b":n,"k":key,"message":"…"} for a batch whose
 *     transform threw, {"v":1,"t":"done"} after "end";
 *   orchestrator → program: {"v":1,"t":"end"}.
 * Rows travel both ways in a rows frame: a JSON head line
 *   {"v":1,"t":"rows","b":n,"n":rows,"bytes":N,"cols":["name",…]}
 * and then exactly N bytes of body: one JSON array holding a tuple `[key, value per column of
 * "cols"]` per row (see wireRow). The column names go once per batch, not once per row, and
 * both ends use the runtime's native JSON, which a hand-written codec in JavaScript did not
 * beat (measured: a tagged tab-separated text format cost 3× the CPU to encode).
 * Several rows frames may be in flight; replies come in the order the batches were sent.
 */
import { isUtf8 } from 'node:buffer';
import { newDataRow } from '../src/core/data-row.js';
import type { BatchOutcome, OutputRow } from './types.js';

export const PROTOCOL_VERSION = 1;

/** One row on the wire: its legacy key and its columns (JSON-typed values). */
export interface WireRow {
  k: string;
  r: Record<string, unknown>;
}

export interface RowsHead {
  v: 1;
  t: 'rows';
  b: number;
  /** Rows in the body. */
  n: number;
  /** Bytes of the body that follows the head line. */
  bytes: number;
  cols: string[];
}

export type ControlFrame =
  | { v: 1; t: 'ready'; token?: string }
  | { v: 1; t: 'error'; b: number; k: string; message: string }
  | { v: 1; t: 'done' }
  | { v: 1; t: 'end' };

/** What a reader hands on: a frame, with its decoded rows when it is a rows frame. */
export type ProgramFrame =
  | { v: 1; t: 'ready'; token?: string }
  | { v: 1; t: 'rows'; b: number; rows: WireRow[] }
  | { v: 1; t: 'error'; b: number; k: string; message: string }
  | { v: 1; t: 'done' };

export type OrchestratorFrame = { v: 1; t: 'rows'; b: number; rows: WireRow[] } | { v: 1; t: 'end' };

/** A control frame is one line: JSON has no raw newlines, so the newline is an unambiguous delimiter. */
export function encodeFrame(frame: ControlFrame): string {
  return `${JSON.stringify(frame)}\n`;
}

/** What the program broke, and the key it is about when there is one. */
export interface Violation {
  message: string;
  key?: string;
}

export type ParseResult<F> = { ok: true; frame: F } | { ok: false; violation: Violation };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Short, printable excerpt of untrusted text for an error message. */
export function excerpt(text: string, max = 120): string {
  const oneLine = text.replace(/[\r\n\t]+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

function byteLength(line: string | Uint8Array): number {
  return typeof line === 'string' ? Buffer.byteLength(line, 'utf8') : line.byteLength;
}

function asText(line: string | Uint8Array): string {
  return typeof line === 'string' ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
}

// ── rows frames ────────────────────────────────────────────────────────────────────────────

/** Names on Object.prototype: a row without such a column must not read the prototype's member. */
export function isInheritedName(name: string): boolean {
  return name in Object.prototype;
}

/** The columns of a batch: every own key of every row, in order of first appearance. */
export function columnsOf(rows: readonly WireRow[]): string[] {
  const seen = new Set<string>();
  const cols: string[] = [];
  let last: string[] | null = null;
  for (const row of rows) {
    const keys = Object.keys(row.r);
    // Rows of one query share their keys: skip the set when they are the previous row's.
    if (last !== null && keys.length === last.length && keys.every((k, i) => k === last![i])) continue;
    last = keys;
    for (const k of keys) {
      if (!seen.has(k)) {
        seen.add(k);
        cols.push(k);
      }
    }
  }
  return cols;
}

/**
 * A value JSON writes differently in an array than as an object member: undefined, a
 * function or a symbol (left out of an object, null in an array) and an object whose toJSON
 * may say undefined. A row holding one travels in the object form, so nothing changes.
 */
function arrayUnsafe(v: unknown): boolean {
  if (v === undefined) return true;
  const t = typeof v;
  if (t === 'function' || t === 'symbol') return true;
  return t === 'object' && v !== null && !(v instanceof Date) && typeof (v as { toJSON?: unknown }).toJSON === 'function';
}

/**
 * One row in the body: the tuple `[key, value per column]`, or `{"k":key,"r":{…}}` when a
 * value would not survive the tuple (see arrayUnsafe) or a column is not the row's own.
 */
export function wireRow(row: WireRow, cols: readonly string[], risky: readonly boolean[]): unknown[] | WireRow {
  const r = row.r;
  const tuple: unknown[] = new Array<unknown>(cols.length + 1);
  tuple[0] = row.k;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    const v = r[c];
    if (arrayUnsafe(v) || (risky[i] && !Object.prototype.hasOwnProperty.call(r, c))) return { k: row.k, r };
    tuple[i + 1] = v;
  }
  return tuple;
}

/** The head line of a rows frame for `body`. */
export function rowsHead(batch: number, n: number, cols: readonly string[], body: string): string {
  const head: RowsHead = { v: 1, t: 'rows', b: batch, n, bytes: Buffer.byteLength(body, 'utf8'), cols: [...cols] };
  return `${JSON.stringify(head)}\n`;
}

/**
 * A whole batch as a rows frame: the head, and a body that is one JSON array of rows (see
 * wireRow). Values are JSON's (the program's contract is JSON-typed rows): numeric and int8
 * as text, dates as ISO text, json/jsonb as their exact text, NULL apart from '', any Unicode (JSON escapes a
 * lone surrogate). A BigInt or a cycle throws, as JSON does.
 */
export function encodeRows(batch: number, rows: readonly WireRow[]): { head: string; body: string } {
  const cols = columnsOf(rows);
  const risky = cols.map(isInheritedName);
  const body = JSON.stringify(rows.map((row) => wireRow(row, cols, risky)));
  return { head: rowsHead(batch, rows.length, cols, body), body };
}

/**
 * The rows of a rows frame's body. Each row inherits nothing (newDataRow): a column named
 * __proto__ or constructor is data, and a column the row leaves out reads as undefined.
 */
export function decodeRows(head: RowsHead, body: string): ParseResult<WireRow[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, violation: { message: `rows frame of batch ${head.b}: the body is not JSON: ${excerpt(body)}` } };
  }
  if (!Array.isArray(parsed) || parsed.length !== head.n) {
    const held = Array.isArray(parsed) ? `${parsed.length} rows` : 'no array';
    return { ok: false, violation: { message: `rows frame of batch ${head.b} announces ${head.n} rows; its body holds ${held}` } };
  }
  const cols = head.cols;
  const rows: WireRow[] = new Array<WireRow>(parsed.length);
  for (let i = 0; i < parsed.length; i++) {
    const row: unknown = parsed[i];
    if (Array.isArray(row)) {
      const k: unknown = row[0];
      if (typeof k !== 'string') return { ok: false, violation: { message: `rows frame of batch ${head.b}: row ${i} has no string key` } };
      if (row.length !== cols.length + 1) {
        return { ok: false, violation: { message: `row for key ${JSON.stringify(k)} has ${row.length - 1} values for ${cols.length} columns`, key: k } };
      }
      const r = newDataRow();
      for (let c = 0; c < cols.length; c++) r[cols[c]!] = row[c + 1];
      rows[i] = { k, r };
    } else if (isPlainObject(row) && typeof row.k === 'string') {
      if (!isPlainObject(row.r)) return { ok: false, violation: { message: `row for key ${JSON.stringify(row.k)} is not an object`, key: row.k } };
      rows[i] = { k: row.k, r: Object.assign(newDataRow(), row.r) };
    } else {
      return { ok: false, violation: { message: `rows frame of batch ${head.b}: row ${i} is neither [key, …values] nor {"k","r"}` } };
    }
  }
  return { ok: true, frame: rows };
}

function parseRowsHead(value: Record<string, unknown>): ParseResult<RowsHead> {
  if (!isCount(value.b)) return { ok: false, violation: { message: 'rows frame has no batch number "b"' } };
  if (!isCount(value.n)) return { ok: false, violation: { message: `rows frame of batch ${value.b} has no row count "n"` } };
  if (!isCount(value.bytes)) return { ok: false, violation: { message: `rows frame of batch ${value.b} has no body length "bytes"` } };
  const cols = value.cols;
  if (!Array.isArray(cols) || !cols.every((c): c is string => typeof c === 'string')) {
    return { ok: false, violation: { message: `rows frame of batch ${value.b} has no "cols" array of names` } };
  }
  if (new Set(cols).size !== cols.length) return { ok: false, violation: { message: `rows frame of batch ${value.b} names a column twice` } };
  return { ok: true, frame: { v: 1, t: 'rows', b: value.b, n: value.n, bytes: value.bytes, cols } };
}

// ── parsing lines ──────────────────────────────────────────────────────────────────────────

/** A line the program sent: a control frame, or the head of a rows frame (its body follows). */
export type ProgramLine = Exclude<ProgramFrame, { t: 'rows' }> | RowsHead;

function parseJsonLine(line: string | Uint8Array): ParseResult<Record<string, unknown>> {
  const text = asText(line);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, violation: { message: `malformed frame (not JSON): ${excerpt(text)}` } };
  }
  if (!isPlainObject(value)) return { ok: false, violation: { message: `malformed frame (not an object): ${excerpt(text)}` } };
  if (value.v !== PROTOCOL_VERSION) {
    return { ok: false, violation: { message: `frame has protocol version ${JSON.stringify(value.v)}, expected ${PROTOCOL_VERSION}` } };
  }
  return { ok: true, frame: value };
}

/** Parses and shape-checks one line the program sent. Malformed or oversized lines are violations, not exceptions. */
export function parseProgramLine(line: string | Uint8Array, maxFrameBytes: number): ParseResult<ProgramLine> {
  const size = byteLength(line);
  if (size > maxFrameBytes) {
    return { ok: false, violation: { message: `frame of ${size} bytes is over the limit of ${maxFrameBytes} bytes` } };
  }
  const parsed = parseJsonLine(line);
  if (!parsed.ok) return parsed;
  const value = parsed.frame;
  switch (value.t) {
    case 'ready':
      return { ok: true, frame: typeof value.token === 'string' ? { v: 1, t: 'ready', token: value.token } : { v: 1, t: 'ready' } };
    case 'done':
      return { ok: true, frame: { v: 1, t: 'done' } };
    case 'rows':
      return parseRowsHead(value);
    case 'error': {
      if (!isCount(value.b)) return { ok: false, violation: { message: 'error frame has no batch number "b"' } };
      if (typeof value.k !== 'string') return { ok: false, violation: { message: 'error frame has no string key "k"' } };
      const message = typeof value.message === 'string' ? value.message : String(value.message);
      return { ok: true, frame: { v: 1, t: 'error', b: value.b, k: value.k, message } };
    }
    case 'batch':
      return { ok: false, violation: { message: 'a JSON "batch" frame: rows now travel in "rows" frames; bundle the program again with this ferry' } };
    default:
      return { ok: false, violation: { message: `unknown frame type ${excerpt(JSON.stringify(value.t) ?? 'undefined')}` } };
  }
}

/** The harness's side: lines the orchestrator sends. A malformed one is the orchestrator's bug. */
export function parseOrchestratorLine(line: string | Uint8Array): ParseResult<RowsHead | { v: 1; t: 'end' }> {
  const parsed = parseJsonLine(line);
  if (!parsed.ok) return parsed;
  if (parsed.frame.t === 'end') return { ok: true, frame: { v: 1, t: 'end' } };
  if (parsed.frame.t === 'rows') return parseRowsHead(parsed.frame);
  return { ok: false, violation: { message: `unexpected frame: ${excerpt(asText(line))}` } };
}

/** The longest first frame a connection may send before it is refused (a ready frame is ~100 bytes). */
export const MAX_HELLO_BYTES = 1024;

/** Comparison whose time does not depend on where two strings first differ. */
function sameSecret(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i % Math.max(1, a.length)) ^ b.charCodeAt(i)) | 0;
  return diff === 0;
}

/**
 * The check of a connection's first frame: a "ready" carrying the run's secret. The secret
 * reaches only the program (its environment, never argv), so a process that reached the
 * socket some other way is refused before it is sent a single row.
 */
export function checkHello(line: string | Uint8Array, token: string): { ok: true } | { ok: false; reason: string } {
  if (byteLength(line) > MAX_HELLO_BYTES) return { ok: false, reason: `first frame over ${MAX_HELLO_BYTES} bytes` };
  const parsed = parseProgramLine(line, MAX_HELLO_BYTES);
  if (!parsed.ok) return { ok: false, reason: parsed.violation.message };
  if (parsed.frame.t !== 'ready') return { ok: false, reason: `first frame is "${parsed.frame.t}", not "ready"` };
  if (typeof parsed.frame.token !== 'string') return { ok: false, reason: 'the "ready" frame has no token' };
  if (!sameSecret(parsed.frame.token, token)) return { ok: false, reason: 'the "ready" frame has the wrong token' };
  return { ok: true };
}

// ── what may come when ─────────────────────────────────────────────────────────────────────

/** A batch sent and not yet answered. */
export interface SentBatch {
  batch: number;
  keys: readonly string[];
}

/** What the orchestrator is waiting for from the program. */
export type Expectation =
  | { phase: 'ready' }
  /** Replies to `pending`, oldest first; "done" once `ended` and nothing is pending. */
  | { phase: 'stream'; pending: readonly SentBatch[]; ended: boolean }
  | { phase: 'finished' };

/** What one frame from the program means, given what was expected. */
export type FrameVerdict =
  | { kind: 'ready' }
  | { kind: 'done' }
  | { kind: 'reply'; outcome: BatchOutcome }
  | { kind: 'violation'; violation: Violation };

function protocolError(violation: Violation): BatchOutcome {
  return violation.key === undefined
    ? { status: 'error', reason: 'protocol_error', message: violation.message }
    : { status: 'error', reason: 'protocol_error', message: violation.message, key: violation.key };
}

/**
 * Checks a batch reply against the keys that were sent: every row must answer to exactly
 * one input row of this batch. The first offending key is named.
 */
export function checkBatchReply(sent: SentBatch, frame: ProgramFrame): BatchOutcome {
  if (frame.t === 'error') {
    if (frame.b !== sent.batch) {
      return protocolError({ message: `error frame for batch ${frame.b} while batch ${sent.batch} was pending`, key: frame.k });
    }
    if (!sent.keys.includes(frame.k)) {
      return protocolError({ message: `error frame names key ${JSON.stringify(frame.k)}, which was not sent in batch ${sent.batch}`, key: frame.k });
    }
    return { status: 'error', reason: 'error', message: `transform failed on key ${JSON.stringify(frame.k)}: ${frame.message}`, key: frame.k };
  }
  if (frame.t !== 'rows') {
    return protocolError({ message: `"${frame.t}" frame while batch ${sent.batch} was pending` });
  }
  if (frame.b !== sent.batch) {
    return protocolError({ message: `reply for batch ${frame.b} while batch ${sent.batch} was pending` });
  }
  // One map of the batch's keys, each marked once answered (not a set of sent keys and another of seen ones).
  const answered = new Map<string, boolean>();
  for (const k of sent.keys) answered.set(k, false);
  for (const row of frame.rows) {
    const was = answered.get(row.k);
    if (was === undefined) {
      return protocolError({ message: `key ${JSON.stringify(row.k)} was not sent in batch ${sent.batch}`, key: row.k });
    }
    if (was) {
      return protocolError({ message: `key ${JSON.stringify(row.k)} answered twice in batch ${sent.batch}`, key: row.k });
    }
    answered.set(row.k, true);
  }
  if (frame.rows.length !== sent.keys.length) {
    for (const k of sent.keys) {
      if (!answered.get(k)) return protocolError({ message: `key ${JSON.stringify(k)} sent in batch ${sent.batch} was not answered`, key: k });
    }
  }
  return { status: 'ok', rows: frame.rows as OutputRow[] };
}

function keyOf(frame: ProgramFrame): string | undefined {
  return frame.t === 'error' ? frame.k : frame.t === 'rows' ? frame.rows[0]?.k : undefined;
}

/**
 * Whether a (parsed, decoded) frame may come now: ready first, one reply per pending batch
 * in the order sent, done only after end with nothing pending, nothing after done.
 */
export function interpretProgramFrame(expect: Expectation, frame: ProgramFrame): FrameVerdict {
  const unexpected = (what: string): FrameVerdict => {
    const key = keyOf(frame);
    const violation: Violation = { message: `unexpected "${frame.t}" frame ${what}${key === undefined ? '' : ` (key ${JSON.stringify(key)})`}` };
    if (key !== undefined) violation.key = key;
    return { kind: 'violation', violation };
  };
  switch (expect.phase) {
    case 'ready':
      return frame.t === 'ready' ? { kind: 'ready' } : unexpected('before "ready"');
    case 'finished':
      return unexpected('after "done"');
    case 'stream': {
      const first = expect.pending[0];
      if (frame.t === 'ready') return unexpected(first ? `while batch ${first.batch} was pending` : 'after "ready"');
      if (frame.t === 'done') {
        if (first) return unexpected(`while batch ${first.batch} was pending`);
        return expect.ended ? { kind: 'done' } : unexpected('before "end"');
      }
      if (!first) return unexpected(expect.ended ? 'after "end"' : 'while no batch was pending');
      return { kind: 'reply', outcome: checkBatchReply(first, frame) };
    }
  }
}

// ── reading a byte stream ──────────────────────────────────────────────────────────────────

/** What a FrameReader hands on: a line, and the body that followed it when its head announced one. */
export interface Unit<L> {
  line: L;
  body: Buffer | null;
}

/**
 * Splits a byte stream into lines, and after a rows head into its announced body, without
 * decoding partial UTF-8 and without buffering more than maxFrameBytes (head and body): a
 * longer frame is reported as soon as it is known to be too long.
 */
export class FrameReader<L> {
  private parts: Buffer[] = [];
  private size = 0;
  /** Body bytes still owed to `head`; 0 while reading lines. */
  private owed = 0;
  private head: L | null = null;
  private headBytes = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly parse: (line: Buffer) => ParseResult<L>,
    private readonly bodyBytes: (line: L) => number | null,
  ) {}

  push(chunk: Buffer): { units: Unit<L>[]; violation: Violation | null } {
    const units: Unit<L>[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.owed > 0) {
        const take = Math.min(this.owed, chunk.length - at);
        this.parts.push(chunk.subarray(at, at + take));
        this.owed -= take;
        at += take;
        if (this.owed === 0) units.push(this.takeBody());
        continue;
      }
      const nl = chunk.indexOf(0x0a, at);
      const piece = chunk.subarray(at, nl === -1 ? chunk.length : nl);
      this.size += piece.length;
      if (this.size > this.maxFrameBytes) {
        return { units, violation: { message: `frame of at least ${this.size} bytes is over the limit of ${this.maxFrameBytes} bytes` } };
      }
      this.parts.push(piece);
      if (nl === -1) break;
      at = nl + 1;
      const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      this.parts = [];
      this.size = 0;
      const violation = this.onLine(line, units);
      if (violation) return { units, violation };
    }
    return { units, violation: null };
  }

  private onLine(line: Buffer, units: Unit<L>[]): Violation | null {
    const parsed = this.parse(line);
    if (!parsed.ok) return parsed.violation;
    const body = this.bodyBytes(parsed.frame);
    if (body === null) {
      units.push({ line: parsed.frame, body: null });
      return null;
    }
    if (line.length + 1 + body > this.maxFrameBytes) {
      return { message: `frame of ${line.length + 1 + body} bytes is over the limit of ${this.maxFrameBytes} bytes` };
    }
    this.head = parsed.frame;
    this.headBytes = line.length + 1;
    if (body === 0) units.push(this.takeBody());
    else this.owed = body;
    return null;
  }

  private takeBody(): Unit<L> {
    const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const unit = { line: this.head as L, body };
    this.parts = [];
    this.head = null;
    this.headBytes = 0;
    return unit;
  }

  /** Bytes of an unfinished frame (a stream that ends here ended mid-frame). */
  get pendingBytes(): number {
    if (this.head === null) return this.size;
    return this.headBytes + this.parts.reduce((n, p) => n + p.length, 0);
  }
}

/** The body of a rows frame as text; a body that is not UTF-8 is a violation, not a silent U+FFFD. */
export function bodyText(head: RowsHead, body: Buffer): ParseResult<string> {
  if (!isUtf8(body)) return { ok: false, violation: { message: `rows frame of batch ${head.b} is not valid UTF-8` } };
  return { ok: true, frame: body.toString('utf8') };
}

/** Body length of a line's frame: a rows head's `bytes`, null for a control frame. */
export function rowsBodyBytes(line: { t: string; bytes?: number }): number | null {
  return line.t === 'rows' ? (line.bytes ?? 0) : null;
}

/** A reader of what the program sends, the size limit on head and body together. */
export function programReader(maxFrameBytes: number): FrameReader<ProgramLine> {
  return new FrameReader<ProgramLine>(maxFrameBytes, (line) => parseProgramLine(line, maxFrameBytes), rowsBodyBytes);
}

/** A unit from the program as a frame, its rows decoded (and the body checked) when it has some. */
export function programFrameOf(unit: Unit<ProgramLine>): ParseResult<ProgramFrame> {
  const line = unit.line;
  if (line.t !== 'rows') return { ok: true, frame: line };
  const text = bodyText(line, unit.body ?? Buffer.alloc(0));
  if (!text.ok) return text;
  const rows = decodeRows(line, text.frame);
  if (!rows.ok) return rows;
  return { ok: true, frame: { v: 1, t: 'rows', b: line.b, rows: rows.frame } };
}
