import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderPlan } from '../../src/present/render.js';
import { reviewAtTerminal } from '../../src/review/terminal-review.js';
import { describeRunEvent } from '../../src/present/run-events.js';
import { terminalLines, terminalText, terminalWriter } from '../../src/terminal-text.js';
import { analysisFixture, planFixture } from '../code-interpreter/fixtures.js';

/** What a terminal would receive: a stream that keeps everything written to it. */
function captured(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

// "Erase the line, then print something else": what a hostile role name did to a reviewer's screen.
const ERASE = '\u001b[2K\rSupervisor (approved)';
const TITLE = '\u001b]0;owned\u0007';
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('text from data and logs on a terminal', () => {
  it('shows ESC, CR, BEL, C1 and bidi controls as visible escapes and keeps newlines and tabs', () => {
    expect(terminalText(`a${ERASE}`)).toBe('a\\u{1b}[2K\\u{0d}Supervisor (approved)');
    expect(terminalText(TITLE)).toBe('\\u{1b}]0;owned\\u{07}');
    expect(terminalText('x\u009b31my\u202eevil')).toBe('x\\u{9b}31my\\u{202e}evil');
    expect(terminalText('line one\n\tline two')).toBe('line one\n\tline two');
    expect(terminalText('Ünïcödé 🚀 ✅')).toBe('Ünïcödé 🚀 ✅');
  });

  it('escapes a hostile enum value in the rendered plan and a sandbox log line in the run timeline', () => {
    const plan = planFixture(analysisFixture());
    const hostile = {
      ...plan,
      enumMappings: plan.enumMappings.map((m) => ({ ...m, values: m.values.map((v, i) => (i === 0 ? { ...v, source: `MT-${ERASE}` } : v)) })),
    };
    const out = captured();
    const say = terminalLines(out.stream);
    say(renderPlan(hostile));
    say(describeRunEvent({ type: 'log', line: `ferry harness: batch 3 ${TITLE}` }) ?? '');
    const text = out.text();
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('MT-\\u{1b}[2K\\u{0d}Supervisor (approved)');
    expect(text).toContain('│ ferry harness: batch 3 \\u{1b}]0;owned\\u{07}');
  });

  it('escapes the terminal review, question by question', async () => {
    const base = planFixture(analysisFixture(), { status: 'draft' });
    const plan = { ...base, description: `roles ${ERASE}` };
    const out = captured();
    const lines = (async function* () {
      yield 'n';
    })();
    await reviewAtTerminal({
      plan,
      lines,
      write: terminalWriter(out.stream),
      applyOverrides: async (p) => p,
      approve: (p) => p,
      reject: (p) => p,
    });
    expect(out.text()).not.toMatch(RAW_CONTROL);
    expect(out.text()).toContain('roles \\u{1b}[2K\\u{0d}Supervisor');
  });
});
