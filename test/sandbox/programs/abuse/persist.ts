// Leaves a file in /tmp and reports whether an earlier run's file is still there.
import { readFileSync, writeFileSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

let earlier: string;
try {
  earlier = readFileSync('/tmp/left-behind', 'utf8');
} catch (e) {
  earlier = (e as NodeJS.ErrnoException).code ?? 'error';
}
writeFileSync('/tmp/left-behind', `from pid ${process.pid}`);
void runHarness(() => ({ earlier }));
