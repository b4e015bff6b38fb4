// A hostile program that speaks the row protocol itself and breaks it as __MODE__ says.
import { connect } from 'node:net';

declare const __MODE__: 'extra' | 'duplicate' | 'missing' | 'garbage' | 'empty' | 'done-early' | 'after-end';

type Row = { k: string; r: Record<string, unknown> };

const socket = connect(process.env.FERRY_STREAM ?? '/run/ferry/stream.sock');
socket.write(`${JSON.stringify({ v: 1, t: 'ready', token: process.env.FERRY_STREAM_TOKEN })}\n`);
let buffer = '';
socket.on('data', (chunk: Buffer) => {
  buffer += chunk.toString('utf8');
  let nl: number;
  while ((nl = buffer.indexOf('\n')) !== -1) {
    const frame = JSON.parse(buffer.slice(0, nl)) as { t: string; b: number; rows: Row[] };
    buffer = buffer.slice(nl + 1);
    if (frame.t === 'end') {
      socket.write('{"v":1,"t":"done"}\n');
      // A frame after the end: a row smuggled in once the orchestrator stopped expecting any.
      if (__MODE__ === 'after-end') socket.write('{"v":1,"t":"batch","b":9,"rows":[{"k":"smuggled","r":{"name":"evil"}}]}\n');
      continue;
    }
    if (frame.t !== 'batch') continue;
    if (__MODE__ === 'done-early') {
      // "Success" with no rows at all.
      socket.write('{"v":1,"t":"done"}\n');
      continue;
    }
    let rows: Row[] = frame.rows.map((row) => ({ k: row.k, r: { name: 'x' } }));
    if (__MODE__ === 'extra') rows.push({ k: 'smuggled', r: { name: 'evil' } });
    if (__MODE__ === 'duplicate') rows.push(rows[0] as Row);
    if (__MODE__ === 'missing') rows = rows.slice(0, -1);
    if (__MODE__ === 'empty') rows = [];
    if (__MODE__ === 'garbage') {
      socket.write('this is not a frame\n');
      continue;
    }
    socket.write(`${JSON.stringify({ v: 1, t: 'batch', b: frame.b, rows })}\n`);
  }
});
// Stays alive until stopped: the orchestrator must end it.
setInterval(() => undefined, 1000);
