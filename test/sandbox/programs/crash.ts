// Fails while loading, before it ever reaches the row stream.
import { runHarness } from '../../../sandbox/harness/harness.js';

throw new Error('boom at load');
void runHarness(() => ({}));
