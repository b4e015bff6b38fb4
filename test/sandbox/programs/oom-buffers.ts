// Allocates memory outside the V8 heap until the memory limit (the kernel's OOM killer) stops it.
import { runHarness } from '../../../sandbox/harness/harness.js';

const kept: Buffer[] = [];
void runHarness(() => {
  for (;;) kept.push(Buffer.alloc(8 * 1024 * 1024, 1));
});
