import { runHarness } from '../../../sandbox/harness/harness.js';

void runHarness((row) => {
  // Never returns: the run must end by its timeout.
  for (;;) if (row === null) break;
  return {};
});
