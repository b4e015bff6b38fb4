/**
 * The in-container runtime. Bundled with a generated program into one CommonJS file for
 * Node 18 (`node /sandbox/bundle.cjs`), so it uses node built-ins only.
 *
 * It connects to the unix socket the orchestrator serves, says ready with the run's secret
 * (FERRY_STREAM_TOKEN, from the environment, never argv), and answers each rows frame
 * with one rows frame (or one error frame naming the row whose transform threw), in the
 * order they came: the orchestrator keeps several batches in flight, so the next one is
 * already waiting in the socket when this one is answered. Rows travel on the socket only; the program's console.log goes to stdout, which
 * the orchestrator reads as log, so a log line can never become a row.
 *
 * Reading and writing both respect backpressure: the socket is read through its async
 * iterator (one chunk at a time, the next read only after the previous lines are handled)
 * and every write that returns false waits for 'drain'. A transform that ignored this ran
 * out of heap in 512 MB after 17k rows in an earlier experiment.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import {
  FrameReader,
  columnsOf,
  decodeRows,
  encodeFrame,
  isInheritedName,
  parseOrchestratorLine,
  rowsBodyBytes,
  rowsHead,
  type RowsHead,
  wireRow,
  type WireRow,
} from '../protocol.js';
import type { TransformFn } from './contract.js';

const DEFAULT_SOCKET = '/run/ferry/stream.sock';
/** Frames from the orchestrator are its own (trusted) batches; this only guards against a runaway line. */
const MAX_INPUT_FRAME_BYTES = 512 * 1024 * 1024;
/** Longest error message sent back; the rest stays in the program's log. */
const MAX_MESSAGE_CHARS = 4000;

/** Exit codes the orchestrator can tell apart from a program's own exit. */
const EXIT_CONNECT = 70;
const EXIT_STREAM = 71;

async function write(socket: Socket, text: string): Promise<void> {
  if (socket.write(text)) return;
  // Wait for the kernel buffer to empty; the abort removes the listeners of the wait that lost.
  const ac = new AbortController();
  try {
    await Promise.race([
      once(socket, 'drain', { signal: ac.signal }),
      once(socket, 'close', { signal: ac.signal }).then(() => Promise.reject(new Error('stream closed while writing'))),
    ]);
  } finally {
    ac.abort();
  }
}

function describeThrown(e: unknown): string {
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/** One row through the transform; a throw or a non-object fails this row, named by its key. */
function transformRow(transform: TransformFn, row: WireRow): { ok: true; out: WireRow } | { ok: false; key: string; message: string } {
  try {
    const out: unknown = transform(row.r);
    if (typeof out !== 'object' || out === null || Array.isArray(out)) {
      return { ok: false, key: row.k, message: `transform returned ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out}, not an object` };
    }
    if (typeof (out as { then?: unknown }).then === 'function') {
      return { ok: false, key: row.k, message: 'transform returned a Promise; it must be synchronous' };
    }
    return { ok: true, out: { k: row.k, r: out as Record<string, unknown> } };
  } catch (e) {
    return { ok: false, key: row.k, message: describeThrown(e) };
  }
}

type BatchResult = { ok: true; head: string; body: string } | { ok: false; key: string; message: string };

/**
 * A batch: every row transformed, then every row encoded over the columns the program set
 * (so a BigInt or a cycle fails its row, named, not the frame).
 */
function transformBatch(transform: TransformFn, batch: number, rows: readonly WireRow[]): BatchResult {
  const outs: WireRow[] = new Array<WireRow>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const result = transformRow(transform, rows[i]!);
    if (!result.ok) return result;
    outs[i] = result.out;
  }
  const cols = columnsOf(outs);
  const risky = cols.map(isInheritedName);
  const wire = outs.map((out) => wireRow(out, cols, risky));
  let body: string;
  try {
    body = JSON.stringify(wire);
  } catch {
    // Which row: the first one that does not serialise on its own.
    for (let i = 0; i < wire.length; i++) {
      try {
        JSON.stringify(wire[i]);
      } catch (e) {
        return { ok: false, key: outs[i]!.k, message: `the row cannot be sent back: ${describeThrown(e)}` };
      }
    }
    return { ok: false, key: outs[0]?.k ?? '', message: 'the batch cannot be sent back' };
  }
  return { ok: true, head: rowsHead(batch, outs.length, cols, body), body };
}

/** One rows frame from the orchestrator, answered with one rows frame or one error frame. */
async function answer(socket: Socket, transform: TransformFn, head: RowsHead, body: Buffer): Promise<void> {
  const decoded = decodeRows(head, body.toString('utf8'));
  if (!decoded.ok) throw new Error(decoded.violation.message);
  const result = transformBatch(transform, head.b, decoded.frame);
  if (!result.ok) {
    process.stdout.write(`ferry harness: batch ${head.b}: row ${result.key} failed: ${result.message}\n`);
    await write(socket, encodeFrame({ v: 1, t: 'error', b: head.b, k: result.key, message: result.message }));
    return;
  }
  await write(socket, result.head);
  await write(socket, result.body);
  // One log line per batch, on stdout (the log), so a person sees the program work.
  process.stdout.write(`ferry harness: batch ${head.b}: ${head.n} rows transformed\n`);
}

async function openStream(path: string): Promise<Socket> {
  const socket = connect(path);
  await Promise.race([
    once(socket, 'connect'),
    once(socket, 'error').then(([e]) => Promise.reject(e instanceof Error ? e : new Error(String(e)))),
  ]);
  return socket;
}

export async function runHarness(transform: TransformFn): Promise<void> {
  const path = process.env.FERRY_STREAM ?? DEFAULT_SOCKET;
  // The run's secret, proof to the orchestrator that this is its program. Taken out of the
  // environment before any row is transformed, so a transform cannot log it by accident.
  const token = process.env.FERRY_STREAM_TOKEN;
  delete process.env.FERRY_STREAM_TOKEN;
  if (token === undefined || token === '') {
    process.stderr.write('ferry harness: FERRY_STREAM_TOKEN is not set; the orchestrator refuses a stream without it\n');
    process.exit(EXIT_CONNECT);
  }
  let socket: Socket;
  try {
    socket = await openStream(path);
  } catch (e) {
    process.stderr.write(`ferry harness: cannot connect to the row stream at ${path}: ${describeThrown(e)}\n`);
    process.exit(EXIT_CONNECT);
  }

  try {
    await write(socket, encodeFrame({ v: 1, t: 'ready', token }));
    const reader = new FrameReader(MAX_INPUT_FRAME_BYTES, parseOrchestratorLine, rowsBodyBytes);
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      const { units, violation } = reader.push(chunk);
      for (const unit of units) {
        if (unit.line.t === 'end') {
          await write(socket, encodeFrame({ v: 1, t: 'done' }));
          await new Promise<void>((resolve) => socket.end(resolve));
          // Exit explicitly: a program that left a timer or handle open must not hold the run.
          process.exit(0);
        }
        await answer(socket, transform, unit.line, unit.body ?? Buffer.alloc(0));
      }
      if (violation) throw new Error(violation.message);
    }
    throw new Error('the orchestrator closed the row stream before "end"');
  } catch (e) {
    process.stderr.write(`ferry harness: ${describeThrown(e)}\n`);
    process.exit(EXIT_STREAM);
  }
}
