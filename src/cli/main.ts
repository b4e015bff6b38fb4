#!/usr/bin/env node
import { loadConfig } from '../config.js';
import { describeError, FerryError } from '../core/errors.js';
import { terminalLines } from '../terminal-text.js';
import { dispatch } from './dispatch.js';
import { tuneHeap } from './heap.js';

// The process edge: argv, stdout/stderr and the exit code. Every line goes through
// terminalLines: data and sandbox logs must not drive the terminal. The heap is tuned first
// (heap.ts): a long run's garbage is collected before it piles up.
tuneHeap();
dispatch(process.argv.slice(2), { say: terminalLines(process.stdout), loadConfig }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = terminalLines(process.stderr);
    err(describeError(e));
    if (process.env.FERRY_DEBUG && e instanceof Error) err(e.stack ?? String(e));
    process.exit(e instanceof FerryError && e.category === 'user' ? 2 : 1);
  },
);
