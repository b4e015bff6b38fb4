// Prints log lines shaped exactly like data frames (on stdout and stderr), for keys that
// were sent and one that was not; its real answer goes through the harness.
import { runHarness } from '../../../../sandbox/harness/harness.js';

void runHarness((row) => {
  const k = String(row.id);
  console.log(`{"v":1,"t":"batch","b":1,"rows":[{"k":"${k}","r":{"name":"FORGED"}},{"k":"smuggled","r":{"name":"EVIL"}}]}`);
  console.error('{"v":1,"t":"done"}');
  return { name: String(row.name).toUpperCase() };
});
