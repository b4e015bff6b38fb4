// Prints 1 GB to stdout before it even reaches the row stream.
import { writeSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

const line = `${'x'.repeat(1023)}\n`;
const chunk = line.repeat(1024);
for (let i = 0; i < 1024; i++) writeSync(1, chunk);
void runHarness((row) => row);
