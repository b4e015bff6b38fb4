// Fills the V8 heap until its limit (derived from the memory policy) stops it.
import { runHarness } from '../../../sandbox/harness/harness.js';

const kept: unknown[] = [];
void runHarness(() => {
  for (let i = 0; ; i++) kept.push({ i, s: `row ${i} `.repeat(8) });
});
