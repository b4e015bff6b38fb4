/**
 * The row stream between the orchestrator and the program: NDJSON frames over a kernel
 * channel (a unix socket the orchestrator serves), kept apart from stdout/stderr so that a
 * log line can never be taken for data.
 *
 * Everything here is pure (no I/O, no dependencies beyond types) because the in-container
 * harness bundles it too: both ends read and write the same frames.
 *
 * orchestrator → program: {"v":1,"t":"batch","b":n,"rows":[{"k":key,"r":{…}}]} … {"v":1,"t":"end"}
 * program → orchestrator: {"v":1,"t":"ready","token":"…"} first (the run's secret, see
 *   checkHello), then per batch either
 *   {"v":1,"t":"batch","b":n,"rows":[{"k":key,"r":{…}}]} or {"v":1,"t":"error","b":n,"k":key,"message":"…"},
 *   and {"v":1,"t":"done"} after "end".
 */
import type { BatchOutcome, InputRow, OutputRow } from './types.js';

export const PROTOCOL_VERSION = 1;

export type OrchestratorFrame =
  | { v: 1; t: 'batch'; b: number; rows: InputRow[] }
  | { v: 1; t: 'end' };

export type ProgramFrame =
  | { v: 1; t: 'ready'; token?: string }
  | { v: 1; t: 'batch'; b: number; rows: OutputRow[] }
  | { v: 1; t: 'error'; b: number; k: string; message: string }
  | { v: 1; t: 'done' };

/** A frame is one line: JSON has no raw newlines, so the newline is an unambiguous delimiter. */
export function encodeFrame(frame: OrchestratorFrame | ProgramFrame): string {
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

function isBatchNumber(v: unknown): v is number {
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

function parseRows(raw: unknown, what: string): ParseResult<{ k: string; r: Record<string, unknown> }[]> {
  if (!Array.isArray(raw)) return { ok: false, violation: { message: `${what} frame has no "rows" array` } };
  const rows: { k: string; r: Record<string, unknown> }[] = [];
  for (let i = 0; i < raw.length; i++) {
    const row: unknown = raw[i];
    if (!isPlainObject(row) || typeof row.k !== 'string') {
      return { ok: false, violation: { message: `${what} frame row ${i} has no string key "k"` } };
    }
    if (!isPlainObject(row.r)) {
      return { ok: false, violation: { message: `row for key ${JSON.stringify(row.k)} is not an object`, key: row.k } };
    }
    // Column names become keys: a row without a prototype holds __proto__ or constructor as data,
    // and a column the program left out reads as undefined, not as Object.prototype's member.
    rows.push({ k: row.k, r: Object.assign(Object.create(null) as Record<string, unknown>, row.r) });
  }
  return { ok: true, frame: rows };
}

/** Parses and shape-checks one line the program sent. Malformed or oversized lines are violations, not exceptions. */
export function parseProgramFrame(line: string | Uint8Array, maxFrameBytes: number): ParseResult<ProgramFrame> {
  const size = byteLength(line);
  if (size > maxFrameBytes) {
    return { ok: false, violation: { message: `frame of ${size} bytes is over the limit of ${maxFrameBytes} bytes` } };
  }
  const text = typeof line === 'string' ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
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
  switch (value.t) {
    case 'ready':
      return { ok: true, frame: typeof value.token === 'string' ? { v: 1, t: 'ready', token: value.token } : { v: 1, t: 'ready' } };
    case 'done':
      return { ok: true, frame: { v: 1, t: 'done' } };
    case 'batch': {
      if (!isBatchNumber(value.b)) return { ok: false, violation: { message: 'batch frame has no batch number "b"' } };
      const rows = parseRows(value.rows, 'batch');
      if (!rows.ok) return rows;
      return { ok: true, frame: { v: 1, t: 'batch', b: value.b, rows: rows.frame } };
    }
    case 'error': {
      if (!isBatchNumber(value.b)) return { ok: false, violation: { message: 'error frame has no batch number "b"' } };
      if (typeof value.k !== 'string') return { ok: false, violation: { message: 'error frame has no string key "k"' } };
      const message = typeof value.message === 'string' ? value.message : String(value.message);
      return { ok: true, frame: { v: 1, t: 'error', b: value.b, k: value.k, message } };
    }
    default:
      return { ok: false, violation: { message: `unknown frame type ${excerpt(JSON.stringify(value.t) ?? 'undefined')}` } };
  }
}

/** The harness's side: frames the orchestrator sends. A malformed one is the orchestrator's bug. */
export function parseOrchestratorFrame(line: string): ParseResult<OrchestratorFrame> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, violation: { message: `malformed frame (not JSON): ${excerpt(line)}` } };
  }
  if (!isPlainObject(value) || value.v !== PROTOCOL_VERSION) {
    return { ok: false, violation: { message: `malformed frame: ${excerpt(line)}` } };
  }
  if (value.t === 'end') return { ok: true, frame: { v: 1, t: 'end' } };
  if (value.t === 'batch' && isBatchNumber(value.b)) {
    const rows = parseRows(value.rows, 'batch');
    if (!rows.ok) return rows;
    return { ok: true, frame: { v: 1, t: 'batch', b: value.b, rows: rows.frame } };
  }
  return { ok: false, violation: { message: `unexpected frame: ${excerpt(line)}` } };
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
  const parsed = parseProgramFrame(line, MAX_HELLO_BYTES);
  if (!parsed.ok) return { ok: false, reason: parsed.violation.message };
  if (parsed.frame.t !== 'ready') return { ok: false, reason: `first frame is "${parsed.frame.t}", not "ready"` };
  if (typeof parsed.frame.token !== 'string') return { ok: false, reason: 'the "ready" frame has no token' };
  if (!sameSecret(parsed.frame.token, token)) return { ok: false, reason: 'the "ready" frame has the wrong token' };
  return { ok: true };
}

/** What the orchestrator is waiting for from the program. */
export type Expectation =
  | { phase: 'ready' }
  | { phase: 'idle' }
  | { phase: 'batch'; batch: number; keys: readonly string[] }
  | { phase: 'done' }
  | { phase: 'finished' };

/** What one line from the program means, given what was expected. */
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
export function checkBatchReply(sent: { batch: number; keys: readonly string[] }, frame: ProgramFrame): BatchOutcome {
  if (frame.t === 'error') {
    if (frame.b !== sent.batch) {
      return protocolError({ message: `error frame for batch ${frame.b} while batch ${sent.batch} was pending`, key: frame.k });
    }
    if (!sent.keys.includes(frame.k)) {
      return protocolError({ message: `error frame names key ${JSON.stringify(frame.k)}, which was not sent in batch ${sent.batch}`, key: frame.k });
    }
    return { status: 'error', reason: 'error', message: `transform failed on key ${JSON.stringify(frame.k)}: ${frame.message}`, key: frame.k };
  }
  if (frame.t !== 'batch') {
    return protocolError({ message: `"${frame.t}" frame while batch ${sent.batch} was pending` });
  }
  if (frame.b !== sent.batch) {
    return protocolError({ message: `reply for batch ${frame.b} while batch ${sent.batch} was pending` });
  }
  const pending = new Set(sent.keys);
  const seen = new Set<string>();
  for (const row of frame.rows) {
    if (seen.has(row.k)) {
      return protocolError({ message: `key ${JSON.stringify(row.k)} answered twice in batch ${sent.batch}`, key: row.k });
    }
    if (!pending.has(row.k)) {
      return protocolError({ message: `key ${JSON.stringify(row.k)} was not sent in batch ${sent.batch}`, key: row.k });
    }
    seen.add(row.k);
  }
  for (const k of sent.keys) {
    if (!seen.has(k)) {
      return protocolError({ message: `key ${JSON.stringify(k)} sent in batch ${sent.batch} was not answered`, key: k });
    }
  }
  return { status: 'ok', rows: frame.rows };
}

/**
 * The whole check for one line from the program: parse, size limit, and whether the frame
 * may come now (ready first, one reply per pending batch, done only after end, nothing after done).
 */
export function interpretProgramLine(expect: Expectation, line: string | Uint8Array, maxFrameBytes: number): FrameVerdict {
  const parsed = parseProgramFrame(line, maxFrameBytes);
  if (!parsed.ok) return { kind: 'violation', violation: parsed.violation };
  const frame = parsed.frame;
  const unexpected = (what: string): FrameVerdict => {
    const key = frame.t === 'error' ? frame.k : frame.t === 'batch' ? frame.rows[0]?.k : undefined;
    const violation: Violation = { message: `unexpected "${frame.t}" frame ${what}${key === undefined ? '' : ` (key ${JSON.stringify(key)})`}` };
    if (key !== undefined) violation.key = key;
    return { kind: 'violation', violation };
  };
  switch (expect.phase) {
    case 'ready':
      return frame.t === 'ready' ? { kind: 'ready' } : unexpected('before "ready"');
    case 'idle':
      return unexpected('while no batch was pending');
    case 'batch':
      if (frame.t === 'ready' || frame.t === 'done') return unexpected(`while batch ${expect.batch} was pending`);
      return { kind: 'reply', outcome: checkBatchReply(expect, frame) };
    case 'done':
      return frame.t === 'done' ? { kind: 'done' } : unexpected('after "end"');
    case 'finished':
      return unexpected('after "done"');
  }
}

/**
 * Splits a byte stream into lines without decoding partial UTF-8 and without buffering
 * more than maxLineBytes: a longer line is reported as soon as it is known to be too long.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** Returns the complete lines in the chunk, or `overflow` with the size seen so far. */
  push(chunk: Buffer): { lines: Buffer[]; overflow: number | null } {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.size + piece.length > this.maxLineBytes) return { lines, overflow: this.size + piece.length };
      lines.push(this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.size += rest.length;
      if (this.size > this.maxLineBytes) return { lines, overflow: this.size };
      this.parts.push(rest);
    }
    return { lines, overflow: null };
  }

  /** Bytes of an unfinished line (a stream that ends here ended mid-frame). */
  get pendingBytes(): number {
    return this.size;
  }
}
