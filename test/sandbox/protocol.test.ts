import { describe, expect, it } from 'vitest';
import { isDataRow } from '../../src/core/data-row.js';
import {
  MAX_HELLO_BYTES,
  checkBatchReply,
  checkHello,
  decodeRows,
  encodeFrame,
  encodeRows,
  interpretProgramFrame,
  parseOrchestratorLine,
  parseProgramLine,
  programFrameOf,
  programReader,
  type Expectation,
  type ProgramFrame,
  type RowsHead,
  type WireRow,
} from '../../sandbox/protocol.js';

const MAX = 1024 * 1024;
const pending: Expectation = { phase: 'stream', pending: [{ batch: 3, keys: ['a', 'b', 'c'] }], ended: false };

/** A rows frame as bytes, and what the orchestrator's reader makes of it. */
function wire(b: number, rows: WireRow[]): Buffer {
  const f = encodeRows(b, rows);
  return Buffer.from(f.head + f.body, 'utf8');
}

function read(bytes: Buffer, max = MAX, chunk = bytes.length): ProgramFrame[] {
  const reader = programReader(max);
  const out: ProgramFrame[] = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    const { units, violation } = reader.push(bytes.subarray(i, i + chunk));
    for (const u of units) {
      const parsed = programFrameOf(u);
      if (!parsed.ok) throw new Error(parsed.violation.message);
      out.push(parsed.frame);
    }
    if (violation) throw new Error(violation.message);
  }
  return out;
}

function reply(b: number, keys: string[]): ProgramFrame {
  const frames = read(wire(b, keys.map((k) => ({ k, r: { name: k.toUpperCase() } }))));
  return frames[0]!;
}

/** JSON's round trip: what the program's contract promises a value arrives as. */
const viaJson = (v: unknown): unknown => (JSON.parse(JSON.stringify({ v })) as { v?: unknown }).v;

describe('rows frames', () => {
  const tricky: Record<string, unknown> = {
    numeric: '12345678901234567890.000000000000000001',
    bigint_text: '9223372036854775807',
    float: 0.1,
    negative_zero: -0,
    big_number: 1e21,
    date: new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999)),
    timestamp_text: '2026-03-01 12:00:00+01',
    json: { a: [1, 'two', null, { 'tab\there': 'new\nline' }], 'back\\slash': true },
    empty: '',
    nothing: null,
    flag: false,
    yes: true,
    escapes: 'a\tb\nc\rd\\e\\tf\\\\',
    looks_tagged: 'N',
    unicode: 'Zürich – 東京 – 𝄞 – 😀',
    lone_surrogate: 'bad \uD800 half',
    nan: Number.NaN,
    infinite: Number.POSITIVE_INFINITY,
    absent: undefined,
    fn: () => 1,
  };

  it('carries every JSON-typed value as a JSON round trip would, through chunks of any size', () => {
    const rows: WireRow[] = [
      { k: 'key\twith\ttabs', r: tricky },
      { k: '', r: { empty: 'only this one' } },
      { k: '3', r: { ['__proto__']: 'a column, not a prototype', constructor: 'x' } },
    ];
    for (const chunk of [1, 7, 4096]) {
      const [frame] = read(wire(5, rows), MAX, chunk);
      expect(frame?.t).toBe('rows');
      if (frame?.t !== 'rows') return;
      expect(frame.b).toBe(5);
      expect(frame.rows.map((r) => r.k)).toEqual(['key\twith\ttabs', '', '3']);
      const first = frame.rows[0]!.r;
      for (const [name, value] of Object.entries(tricky)) expect(first[name], name).toEqual(viaJson(value));
      expect(Object.keys(first).sort()).toEqual(Object.keys(JSON.parse(JSON.stringify(tricky)) as object).sort());
      // A column a row leaves out is absent, not null: the other rows' columns do not leak in.
      expect(Object.keys(frame.rows[1]!.r)).toEqual(['empty']);
      // Nothing inherited: the row's prototype is empty and has none of its own (newDataRow).
      const proto = Object.getPrototypeOf(frame.rows[2]!.r) as object | null;
      expect(proto === null || (Object.getPrototypeOf(proto) === null && Reflect.ownKeys(proto).length === 0)).toBe(true);
      expect(isDataRow(frame.rows[2]!.r)).toBe(true);
      expect(Object.keys(frame.rows[2]!.r)).toEqual(['__proto__', 'constructor']);
      expect(frame.rows[2]!.r['__proto__']).toBe('a column, not a prototype');
      // A row without those columns does not read Object.prototype's members as data.
      expect('constructor' in frame.rows[0]!.r).toBe(false);
    }
  });

  it('keeps NULL apart from the empty string and from an absent column', () => {
    const [frame] = read(wire(1, [{ k: '1', r: { a: null, b: '' } }, { k: '2', r: { b: 'x' } }]));
    if (frame?.t !== 'rows') throw new Error('no rows frame');
    expect(frame.rows[0]!.r).toEqual({ a: null, b: '' });
    expect('a' in frame.rows[1]!.r).toBe(false);
  });

  it('refuses what JSON refuses: a BigInt', () => {
    expect(() => encodeRows(1, [{ k: '1', r: { n: 10n } }])).toThrow(/BigInt/);
  });

  it('keeps a NUL in a value (COPY refuses it later, naming the row)', () => {
    const [frame] = read(wire(1, [{ k: '1', r: { s: 'a\0b' } }]));
    expect(frame?.t === 'rows' && frame.rows[0]!.r.s).toBe('a\0b');
  });

  it.each([
    ['a tuple too short', '[["k9","x"]]', 'k9', /1 values for 2 columns/],
    ['a tuple too long', '[["k9","x","y","z"]]', 'k9', /3 values for 2 columns/],
    ['an object row whose r is not an object', '[{"k":"k9","r":[1]}]', 'k9', /not an object/],
    ['a tuple without a string key', '[[9,"x","y"]]', undefined, /no string key/],
    ['a row that is neither', '["k9"]', undefined, /neither/],
    ['a body that is not JSON', '[["k9","x",', undefined, /not JSON/],
    ['a body with fewer rows than announced', '[]', undefined, /announces 1 rows; its body holds 0 rows/],
  ])('refuses %s', (_name, body, key, message) => {
    const head: RowsHead = { v: 1, t: 'rows', b: 1, n: 1, bytes: 0, cols: ['c', 'd'] };
    const got = decodeRows(head, body);
    expect(got.ok).toBe(false);
    if (!got.ok) {
      expect(got.violation.key).toBe(key);
      expect(got.violation.message).toMatch(message);
    }
  });

  it('refuses a body that is not UTF-8 instead of reading U+FFFD', () => {
    const head = Buffer.from(`${JSON.stringify({ v: 1, t: 'rows', b: 1, n: 1, bytes: 9, cols: ['c'] })}\n`);
    expect(() => read(Buffer.concat([head, Buffer.from('[["k","'), Buffer.from([0xff]), Buffer.from('"]]')]))).toThrow(/not valid UTF-8/);
  });

  it.each([
    ['no row count', { b: 1, bytes: 0, cols: [] }, /no row count/],
    ['no body length', { b: 1, n: 0, cols: [] }, /no body length/],
    ['a column twice', { b: 1, n: 0, bytes: 0, cols: ['a', 'a'] }, /names a column twice/],
    ['a column that is not a name', { b: 1, n: 0, bytes: 0, cols: [1] }, /no "cols"/],
  ])('refuses a rows head with %s', (_name, head, message) => {
    const parsed = parseProgramLine(JSON.stringify({ v: 1, t: 'rows', ...head }), MAX);
    expect(parsed).toMatchObject({ ok: false, violation: { message: expect.stringMatching(message) } });
  });

  it('measures head and body against maxFrameBytes before buffering the body', () => {
    const bytes = wire(1, [{ k: '1', r: { s: 'x'.repeat(500) } }]);
    expect(() => read(bytes, 200)).toThrow(/over the limit of 200 bytes/);
  });

  it('reads a frame that arrives with the next one in the same chunk', () => {
    const both = Buffer.concat([wire(1, [{ k: '1', r: { a: 1 } }]), Buffer.from(encodeFrame({ v: 1, t: 'done' })), wire(2, [])]);
    expect(read(both).map((f) => f.t)).toEqual(['rows', 'done', 'rows']);
  });

  it('the harness side reads the same heads and "end"', () => {
    const f = encodeRows(4, [{ k: '1', r: { a: 1 } }]);
    expect(parseOrchestratorLine(f.head.trimEnd())).toMatchObject({ ok: true, frame: { t: 'rows', b: 4, n: 1, cols: ['a'] } });
    expect(parseOrchestratorLine('{"v":1,"t":"end"}')).toEqual({ ok: true, frame: { v: 1, t: 'end' } });
    expect(parseOrchestratorLine('{"v":1,"t":"done"}').ok).toBe(false);
  });
});

describe('replies', () => {
  it('accepts a complete, correctly keyed reply', () => {
    const verdict = interpretProgramFrame(pending, reply(3, ['c', 'a', 'b']));
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
    const verdict = interpretProgramFrame(pending, reply(3, keys));
    expect(verdict).toMatchObject({ kind: 'reply', outcome: { status: 'error', reason: 'protocol_error', key } });
    if (verdict.kind === 'reply' && verdict.outcome.status === 'error') expect(verdict.outcome.message).toMatch(message);
  });

  it('expects replies in the order the batches were sent', () => {
    const two: Expectation = { phase: 'stream', pending: [{ batch: 3, keys: ['a'] }, { batch: 4, keys: ['b'] }], ended: false };
    expect(interpretProgramFrame(two, reply(3, ['a']))).toMatchObject({ kind: 'reply', outcome: { status: 'ok' } });
    expect(interpretProgramFrame(two, reply(4, ['b']))).toMatchObject({
      kind: 'reply',
      outcome: { status: 'error', reason: 'protocol_error', message: expect.stringMatching(/batch 4 while batch 3/) },
    });
  });

  it('turns an error frame into a program error naming the key', () => {
    const frame: ProgramFrame = { v: 1, t: 'error', b: 3, k: 'b', message: 'TypeError: boom' };
    expect(interpretProgramFrame(pending, frame)).toEqual({
      kind: 'reply',
      outcome: { status: 'error', reason: 'error', key: 'b', message: 'transform failed on key "b": TypeError: boom' },
    });
    const forged: ProgramFrame = { v: 1, t: 'error', b: 3, k: 'nope', message: 'x' };
    expect(interpretProgramFrame(pending, forged)).toMatchObject({ kind: 'reply', outcome: { reason: 'protocol_error', key: 'nope' } });
  });

  it('rejects frames out of order', () => {
    const ready: ProgramFrame = { v: 1, t: 'ready' };
    const done: ProgramFrame = { v: 1, t: 'done' };
    const idle: Expectation = { phase: 'stream', pending: [], ended: false };
    expect(interpretProgramFrame({ phase: 'ready' }, ready)).toEqual({ kind: 'ready' });
    expect(interpretProgramFrame({ phase: 'ready' }, reply(0, ['a']))).toMatchObject({ kind: 'violation', violation: { key: 'a' } });
    expect(interpretProgramFrame(pending, ready).kind).toBe('violation');
    expect(interpretProgramFrame(idle, reply(3, ['a']))).toMatchObject({ kind: 'violation', violation: { message: expect.stringMatching(/no batch was pending/) } });
    expect(interpretProgramFrame(idle, done)).toMatchObject({ kind: 'violation', violation: { message: expect.stringMatching(/before "end"/) } });
    expect(interpretProgramFrame({ ...pending, ended: true }, done)).toMatchObject({ kind: 'violation', violation: { message: expect.stringMatching(/while batch 3/) } });
    expect(interpretProgramFrame({ ...idle, ended: true }, done)).toEqual({ kind: 'done' });
    expect(interpretProgramFrame({ ...idle, ended: true }, reply(3, ['x']))).toMatchObject({ kind: 'violation', violation: { message: expect.stringMatching(/after "end"/) } });
    expect(interpretProgramFrame({ phase: 'finished' }, reply(3, ['x']))).toMatchObject({
      kind: 'violation',
      violation: { message: expect.stringMatching(/after "done"/), key: 'x' },
    });
  });

  it.each([
    ['not JSON', 'hello from console.log', /not JSON/],
    ['not an object', '[1,2]', /not an object/],
    ['wrong version', '{"v":2,"t":"ready"}', /version 2/],
    ['unknown type', '{"v":1,"t":"rowz"}', /unknown frame type/],
    ['a JSON batch of the old protocol', '{"v":1,"t":"batch","b":1,"rows":[]}', /bundle the program again/],
  ])('rejects a malformed line: %s', (_name, line, message) => {
    const parsed = parseProgramLine(line, MAX);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.violation.message).toMatch(message);
  });

  it('checkBatchReply refuses non-reply frames', () => {
    const done: ProgramFrame = { v: 1, t: 'done' };
    expect(checkBatchReply({ batch: 1, keys: ['a'] }, done)).toMatchObject({ status: 'error', reason: 'protocol_error' });
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
