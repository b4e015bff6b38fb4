import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { demuxDockerOutput } from '../../sandbox/docker-client.js';
import { parseLdd } from '../../sandbox/image.js';
import { LogCollector } from '../../sandbox/logs.js';
import { dockerFrame } from './frames.js';


describe('demuxDockerOutput (docker-modem demuxStream)', () => {
  it('splits stdout and stderr, whatever the chunking', async () => {
    const all = Buffer.concat([dockerFrame(1, 'out one\n'), dockerFrame(2, 'err ü\n'), dockerFrame(1, 'out two\n')]);
    // Constructing a client opens no connection; only its modem's demuxStream is used.
    const { modem } = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
    for (const step of [1, 3, 7, all.length]) {
      const got: string[] = [];
      const raw = new PassThrough();
      const ended = demuxDockerOutput(modem, raw, (stream, chunk) => got.push(`${stream}:${chunk.toString()}`));
      for (let i = 0; i < all.length; i += step) raw.write(all.subarray(i, i + step));
      raw.end();
      await ended;
      expect(got.join('')).toBe('stdout:out one\nstderr:err ü\nstdout:out two\n');
    }
  });
});

describe('LogCollector', () => {
  it('hands every line to onLog as it completes and keeps a marked tail under the cap', () => {
    const seen: string[] = [];
    const logs = new LogCollector({ maxBytes: 1_000_000, tailBytes: 40, onLog: (line, stream) => seen.push(`${stream}:${line}`) });
    logs.write('stdout', Buffer.from('first line\nsecond '));
    expect(seen).toEqual(['stdout:first line']);
    logs.write('stderr', Buffer.from('oops\n'));
    logs.write('stdout', Buffer.from('line\nthird line\nunfinished'));
    logs.end();
    expect(seen).toEqual(['stdout:first line', 'stderr:oops', 'stdout:second line', 'stdout:third line', 'stdout:unfinished']);
    const tail = logs.tail();
    expect(tail[0]).toMatch(/^\[ferry: 2 earlier log lines \(\d+ bytes\) dropped; record keeps 40 bytes\]$/);
    expect(tail.slice(1)).toEqual(['second line', 'third line', 'unfinished']);
  });

  it('cuts an overlong line instead of losing it, and survives a failing sink', () => {
    const logs = new LogCollector({
      maxBytes: 1_000_000,
      tailBytes: 100,
      onLog: () => {
        throw new Error('sink down');
      },
    });
    logs.write('stdout', Buffer.from(`${'y'.repeat(500)}\n`));
    expect(logs.tail()).toEqual([`${'y'.repeat(50)} [ferry: line cut]`]);
  });

  it('summarises a crash by its error line', () => {
    const logs = new LogCollector({ maxBytes: 1_000_000, tailBytes: 10_000 });
    logs.write('stderr', Buffer.from('/sandbox/bundle.cjs:3\nthrow new Error("x");\n^\n\nError: boom at load\n    at Object.<anonymous>\n\nNode.js v18.20.8\n'));
    logs.end();
    expect(logs.errorSummary()).toBe('Error: boom at load');
  });
});

describe('LogCollector at its byte limit', () => {
  it('keeps what fits, marks the cut, calls onLimit once and ignores the rest', () => {
    const seen: string[] = [];
    const limits: number[] = [];
    const logs = new LogCollector({ maxBytes: 25, tailBytes: 1000, onLog: (line) => seen.push(line), onLimit: (n) => limits.push(n) });
    logs.write('stdout', Buffer.from('0123456789\n'));
    expect(logs.overLimit).toBe(false);
    logs.write('stdout', Buffer.from('abcdefghij\nklmnopqrst\n'));
    logs.write('stdout', Buffer.from('never seen\n'));
    logs.end();
    expect(logs.overLimit).toBe(true);
    expect(limits).toEqual([33]);
    expect(seen).toEqual(['0123456789', 'abcdefghij', 'klm']);
    expect(logs.tail()).toEqual(['0123456789', 'abcdefghij', 'klm', '[ferry: log cut: the program wrote more than the limit of 25 bytes]']);
    expect(logs.bytes).toBe(44);
  });
});

describe('parseLdd', () => {
  it('takes resolved libraries and the loader, not the vdso', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f6d)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f6d)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f6d)',
    ].join('\n');
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libdl.so.2', '/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib64/ld-linux-x86-64.so.2']);
    expect(() => parseLdd('\tlibfoo.so => not found')).toThrow(/not found/);
  });
});
