/**
 * The in-container runtime. Bundled with a generated program into one CommonJS file for
 * Node 18 (`node /sandbox/bundle.cjs`), so it uses node built-ins only.
 *
 * It connects to the unix socket the orchestrator serves, says ready with the run's secret
 * (FERRY_STREAM_TOKEN, from the environment, never argv), and answers each
 * batch frame with one batch frame (or one error frame naming the row whose transform
 * threw). Rows travel on the socket only; the program's console.log goes to stdout, which
 * the orchestrator reads as log, so a log line can never become a row.
 *
 * Reading and writing both respect backpressure: the socket is read through its async
 * iterator (one chunk at a time, the next read only after the previous lines are handled)
 * and every write that returns false waits for 'drain'. A transform that ignored this ran
 * out of heap in 512 MB after 17k rows in an earlier experiment.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { LineSplitter, encodeFrame, parseOrchestratorFrame } from '../protocol.js';
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

type RowResult = { ok: true; json: string } | { ok: false; key: string; message: string };

/** One row: transform, then serialise here so a BigInt or a cycle fails this row, not the batch frame. */
function transformRow(transform: TransformFn, key: string, row: Record<string, unknown>): RowResult {
  try {
    const out: unknown = transform(row);
    if (typeof out !== 'object' || out === null || Array.isArray(out)) {
      return { ok: false, key, message: `transform returned ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out}, not an object` };
    }
    if (typeof (out as { then?: unknown }).then === 'function') {
      return { ok: false, key, message: 'transform returned a Promise; it must be synchronous' };
    }
    return { ok: true, json: JSON.stringify({ k: key, r: out }) };
  } catch (e) {
    return { ok: false, key, message: describeThrown(e) };
  }
}

/** Writes a batch reply in pieces so a large batch never needs one giant string. */
async function writeBatch(socket: Socket, batch: number, rows: string[]): Promise<void> {
  await write(socket, `{"v":1,"t":"batch","b":${batch},"rows":[`);
  const CHUNK = 256;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const piece = rows.slice(i, i + CHUNK).join(',');
    await write(socket, i === 0 ? piece : `,${piece}`);
  }
  await write(socket, ']}\n');
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
    const splitter = new LineSplitter(MAX_INPUT_FRAME_BYTES);
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      const { lines, overflow } = splitter.push(chunk);
      if (overflow !== null) throw new Error(`input frame over ${MAX_INPUT_FRAME_BYTES} bytes`);
      for (const line of lines) {
        const parsed = parseOrchestratorFrame(line.toString('utf8'));
        if (!parsed.ok) throw new Error(parsed.violation.message);
        const frame = parsed.frame;
        if (frame.t === 'end') {
          await write(socket, encodeFrame({ v: 1, t: 'done' }));
          await new Promise<void>((resolve) => socket.end(resolve));
          // Exit explicitly: a program that left a timer or handle open must not hold the run.
          process.exit(0);
        }
        const out: string[] = [];
        let failed: { key: string; message: string } | null = null;
        for (const row of frame.rows) {
          const result = transformRow(transform, row.k, row.r);
          if (!result.ok) {
            failed = result;
            break;
          }
          out.push(result.json);
        }
        if (failed) {
          process.stdout.write(`ferry harness: batch ${frame.b}: row ${failed.key} failed: ${failed.message}\n`);
          await write(socket, encodeFrame({ v: 1, t: 'error', b: frame.b, k: failed.key, message: failed.message }));
        } else {
          await writeBatch(socket, frame.b, out);
          // One log line per batch, on stdout (the log), so a person sees the program work.
          process.stdout.write(`ferry harness: batch ${frame.b}: ${frame.rows.length} rows transformed\n`);
        }
      }
    }
    throw new Error('the orchestrator closed the row stream before "end"');
  } catch (e) {
    process.stderr.write(`ferry harness: ${describeThrown(e)}\n`);
    process.exit(EXIT_STREAM);
  }
}
