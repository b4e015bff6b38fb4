// Says ready, never answers, and ignores SIGTERM: only SIGKILL can end it.
import { connect } from 'node:net';

process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const socket = connect(process.env.FERRY_STREAM ?? '/run/ferry/stream.sock');
socket.write(`${JSON.stringify({ v: 1, t: 'ready', token: process.env.FERRY_STREAM_TOKEN })}\n`);
socket.on('data', () => undefined);
setInterval(() => undefined, 1000);
