// Uppercases a field, and logs a line that looks exactly like a data frame: it must stay a log line.
import { runHarness } from '../../../sandbox/harness/harness.js';

console.log('program starting');
void runHarness((row) => {
  console.log(`{"v":1,"t":"batch","b":1,"rows":[{"k":"forged","r":{"name":"FORGED"}}]}`);
  console.error(`transforming ${String(row.id)}`);
  return { id: row.id, name: String(row.name).toUpperCase() };
});
