// Logs far more than the log cap, and many rows through a small memory limit.
import { runHarness } from '../../../sandbox/harness/harness.js';

let n = 0;
void runHarness((row) => {
  n += 1;
  if (n % 50 === 0) console.log(`row ${n}: ${'x'.repeat(200)}`);
  return { id: row.id, name: String(row.name).toUpperCase(), padding: 'p'.repeat(100) };
});
