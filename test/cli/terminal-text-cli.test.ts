import { describe, expect, it } from 'vitest';
import { runFerry } from '../setup/ferry-bin.js';

// The ferry process itself, so this lives in the integration project; the in-process
// escaping tests are in terminal-text.test.ts (unit).
const ERASE = '\u001b[2K\rSupervisor (approved)';
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('text from data and logs on a terminal', () => {
  it('the ferry command escapes what it echoes back in an error', async () => {
    const r = await runFerry({ PATH: process.env.PATH, HOME: process.env.HOME }, [`frob${ERASE}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('COMMAND_UNKNOWN');
    expect(r.stderr).toContain('frob\\u{1b}[2K\\u{0d}Supervisor');
    expect(r.stderr).not.toMatch(RAW_CONTROL);
  });
});
