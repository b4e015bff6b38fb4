// A hostile program that speaks the row protocol itself and breaks it as __MODE__ says.
import { connect } from 'node:net';
import { decodeRows, encodeRows, type RowsHead, type WireRow } from '../../../sandbox/protocol.js';

declare const __MODE__: 'extra' | 'duplicate' | 'missing' | 'garbage' | 'empty' | 'done-early' | 'after-end' | 'short-body' | 'short-row';

const socket = connect(process.env.FERRY_STREAM ?? '/run/ferry/stream.sock');
socket.write(`${JSON.stringify({ v: 1, t: 'ready', token: process.env.FERRY_STREAM_TOKEN })}\n`);
const send = (b: number, rows: WireRow[]) => {
  const f = encodeRows(b, rows);
  socket.write(f.head + f.body);
};
let buffer = Buffer.alloc(0);
socket.on('data', (chunk: Buffer) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const nl = buffer.indexOf(0x0a);
    if (nl === -1) return;
    const head = JSON.parse(buffer.subarray(0, nl).toString('utf8')) as RowsHead | { t: 'end' };
    const bytes = head.t === 'rows' ? head.bytes : 0;
    if (buffer.length < nl + 1 + bytes) return;
    const body = buffer.subarray(nl + 1, nl + 1 + bytes).toString('utf8');
    buffer = buffer.subarray(nl + 1 + bytes);
    if (head.t === 'end') {
      socket.write('{"v":1,"t":"done"}\n');
      // A frame after the end: a row smuggled in once the orchestrator stopped expecting any.
      if (__MODE__ === 'after-end') send(9, [{ k: 'smuggled', r: { name: 'evil' } }]);
      continue;
    }
    if (__MODE__ === 'done-early') {
      // "Success" with no rows at all.
      socket.write('{"v":1,"t":"done"}\n');
      continue;
    }
    const decoded = decodeRows(head, body);
    if (!decoded.ok) throw new Error(decoded.violation.message);
    let rows: WireRow[] = decoded.frame.map((row) => ({ k: row.k, r: { name: 'x' } }));
    if (__MODE__ === 'extra') rows.push({ k: 'smuggled', r: { name: 'evil' } });
    if (__MODE__ === 'duplicate') rows.push(rows[0] as WireRow);
    if (__MODE__ === 'missing') rows = rows.slice(0, -1);
    if (__MODE__ === 'empty') rows = [];
    if (__MODE__ === 'garbage') {
      socket.write('this is not a frame\n');
      continue;
    }
    if (__MODE__ === 'short-body') {
      // A head that announces more rows than its body holds.
      const f = encodeRows(head.b, rows);
      socket.write(f.head.replace(`"n":${rows.length}`, `"n":${rows.length + 1}`) + f.body);
      continue;
    }
    if (__MODE__ === 'short-row') {
      // The first row's tuple one value short of its columns.
      const f = encodeRows(head.b, rows);
      const body2 = f.body.replace(',"x"]', ']');
      socket.write(f.head.replace(/"bytes":\d+/, `"bytes":${Buffer.byteLength(body2)}`) + body2);
      continue;
    }
    send(head.b, rows);
  }
});
// Stays alive until stopped: the orchestrator must end it.
setInterval(() => undefined, 1000);
