import { describe, expect, it } from 'vitest';
import {
  LineSplitter,
  MAX_HELLO_BYTES,
  checkBatchReply,
  checkHello,
  encodeFrame,
  interpretProgramLine,
  parseOrchestratorFrame,
  parseProgramFrame,
  type Expectation,
  type ProgramFrame,
} from '../../sandbox/protocol.js';

const MAX = 1024 * 1024;
const pending: Expectation = { phase: 'batch', batch: 3, keys: ['a', 'b', 'c'] };
const reply = (b: number, keys: string[]): string =>
  encodeFrame({ v: 1, t: 'batch', b, rows: keys.map((k) => ({ k, r: { name: k.toUpperCase() } })) });

describe('protocol frames', () => {
  it('encodes one frame per line and parses it back', () => {
    const line = encodeFrame({ v: 1, t: 'batch', b: 1, rows: [{ k: '7', r: { name: 'line\nbreak' } }] });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(parseOrchestratorFrame(line.trimEnd())).toEqual({
      ok: true,
      frame: { v: 1, t: 'batch', b: 1, rows: [{ k: '7', r: { name: 'line\nbreak' } }] },
    });
  });

  it('accepts a complete, correctly keyed reply', () => {
    const verdict = interpretProgramLine(pending, reply(3, ['c', 'a', 'b']), MAX);
    expect(verdict.kind).toBe('reply');
    if (verdict.kind !== 'reply') return;
    expect(verdict.outcome.status).toBe('ok');
    if (verdict.outcome.status === 'ok') expect(verdict.outcome.rows.map((r) => r.k)).toEqual(['c', 'a', 'b']);
  });

  it.each([
    ['unknown key', ['a', 'b', 'c', 'zz'], 'zz', /not sent/],
    ['duplicated key', ['a', 'b', 'b', 'c'], 'b', /answered twice/],
    ['missing key', ['a', 'c'], 'b', /not answered/],
  ])('names the key on %s', (_name, keys, key, message) => {
    const verdict = interpretProgramLine(pending, reply(3, keys), MAX);
    expect(verdict).toMatchObject({ kind: 'reply', outcome: { status: 'error', reason: 'protocol_error', key } });
    if (verdict.kind === 'reply' && verdict.outcome.status === 'error') expect(verdict.outcome.message).toMatch(message);
  });

  it('rejects a reply for the wrong batch', () => {
    expect(interpretProgramLine(pending, reply(4, ['a', 'b', 'c']), MAX)).toMatchObject({
      kind: 'reply',
      outcome: { status: 'error', reason: 'protocol_error', message: expect.stringMatching(/batch 4 while batch 3/) },
    });
  });

  it('turns an error frame into a program error naming the key', () => {
    const line = encodeFrame({ v: 1, t: 'error', b: 3, k: 'b', message: 'TypeError: boom' });
    expect(interpretProgramLine(pending, line, MAX)).toEqual({
      kind: 'reply',
      outcome: { status: 'error', reason: 'error', key: 'b', message: 'transform failed on key "b": TypeError: boom' },
    });
    const forged = encodeFrame({ v: 1, t: 'error', b: 3, k: 'nope', message: 'x' });
    expect(interpretProgramLine(pending, forged, MAX)).toMatchObject({ kind: 'reply', outcome: { reason: 'protocol_error', key: 'nope' } });
  });

  it('rejects frames out of order', () => {
    const ready = encodeFrame({ v: 1, t: 'ready' });
    const done = encodeFrame({ v: 1, t: 'done' });
    expect(interpretProgramLine({ phase: 'ready' }, ready, MAX)).toEqual({ kind: 'ready' });
    expect(interpretProgramLine({ phase: 'ready' }, reply(0, ['a']), MAX)).toMatchObject({ kind: 'violation', violation: { key: 'a' } });
    expect(interpretProgramLine(pending, ready, MAX).kind).toBe('violation');
    expect(interpretProgramLine({ phase: 'idle' }, reply(3, ['a']), MAX)).toMatchObject({
      kind: 'violation',
      violation: { message: expect.stringMatching(/no batch was pending/) },
    });
    expect(interpretProgramLine({ phase: 'done' }, done, MAX)).toEqual({ kind: 'done' });
    expect(interpretProgramLine({ phase: 'finished' }, reply(3, ['x']), MAX)).toMatchObject({
      kind: 'violation',
      violation: { message: expect.stringMatching(/after "done"/), key: 'x' },
    });
  });

  it.each([
    ['not JSON', 'hello from console.log', /not JSON/],
    ['not an object', '[1,2]', /not an object/],
    ['wrong version', '{"v":2,"t":"ready"}', /version 2/],
    ['unknown type', '{"v":1,"t":"rows"}', /unknown frame type/],
    ['batch without rows', '{"v":1,"t":"batch","b":1}', /no "rows"/],
    ['row without key', '{"v":1,"t":"batch","b":1,"rows":[{"r":{}}]}', /no string key/],
  ])('rejects a malformed frame: %s', (_name, line, message) => {
    const parsed = parseProgramFrame(line, MAX);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.violation.message).toMatch(message);
  });

  it('names the key of a row that is not an object', () => {
    const parsed = parseProgramFrame('{"v":1,"t":"batch","b":1,"rows":[{"k":"9","r":[1]}]}', MAX);
    expect(parsed).toEqual({ ok: false, violation: { message: 'row for key "9" is not an object', key: '9' } });
  });

  it('rejects a frame over maxFrameBytes', () => {
    const line = reply(3, ['a', 'b', 'c']);
    expect(interpretProgramLine(pending, line, 20)).toMatchObject({
      kind: 'violation',
      violation: { message: expect.stringMatching(/over the limit of 20 bytes/) },
    });
  });

  it('checkBatchReply refuses non-reply frames', () => {
    const done: ProgramFrame = { v: 1, t: 'done' };
    expect(checkBatchReply({ batch: 1, keys: ['a'] }, done)).toMatchObject({ status: 'error', reason: 'protocol_error' });
  });
});

describe('LineSplitter', () => {
  it('joins lines across chunks without splitting multi-byte characters', () => {
    const text = Buffer.from('{"a":"ü"}\n{"b":"€"}\n{"c"');
    const s = new LineSplitter(100);
    const lines: string[] = [];
    for (let i = 0; i < text.length; i += 3) {
      const { lines: got, overflow } = s.push(text.subarray(i, i + 3));
      expect(overflow).toBeNull();
      lines.push(...got.map((b) => b.toString('utf8')));
    }
    expect(lines).toEqual(['{"a":"ü"}', '{"b":"€"}']);
    expect(s.pendingBytes).toBe(4);
  });

  it('reports an overlong line before it ends', () => {
    const s = new LineSplitter(10);
    expect(s.push(Buffer.from('12345')).overflow).toBeNull();
    expect(s.push(Buffer.from('678901')).overflow).toBe(11);
  });
});

describe('the first frame of a connection', () => {
  const secret = '9c'.repeat(32);
  it('admits a "ready" carrying the run\'s secret', () => {
    expect(checkHello(encodeFrame({ v: 1, t: 'ready', token: secret }).trimEnd(), secret)).toEqual({ ok: true });
  });
  it.each([
    ['no token', '{"v":1,"t":"ready"}', 'no token'],
    ['a wrong token', `{"v":1,"t":"ready","token":"${'9c'.repeat(31)}9d"}`, 'wrong token'],
    ['a prefix of the token', `{"v":1,"t":"ready","token":"${'9c'.repeat(16)}"}`, 'wrong token'],
    ['the token as a number', '{"v":1,"t":"ready","token":42}', 'no token'],
    ['another frame first', `{"v":1,"t":"done","token":"${secret}"}`, 'not "ready"'],
    ['not JSON', 'GET / HTTP/1.1', 'not JSON'],
    ['an oversized line', `{"v":1,"t":"ready","token":"${'x'.repeat(MAX_HELLO_BYTES)}"}`, `over ${MAX_HELLO_BYTES} bytes`],
  ])('refuses %s', (_name, line, why) => {
    const verdict = checkHello(line, secret);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toContain(why);
  });
});
