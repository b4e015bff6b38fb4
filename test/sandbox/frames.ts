/** One frame of Docker's multiplexed output (no TTY): stream 1 stdout or 2 stderr, three zero bytes, the payload's length big-endian, the payload. */
export function dockerFrame(type: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}
