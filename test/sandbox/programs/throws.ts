import { runHarness } from '../../../sandbox/harness/harness.js';

void runHarness((row) => {
  if (row.name === 'bad') throw new TypeError(`cannot map role ${String(row.name)}`);
  return { name: String(row.name).toUpperCase() };
});
