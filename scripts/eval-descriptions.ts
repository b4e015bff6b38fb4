/**
 * npm run eval:descriptions: reads every description of test/descriptions/corpus.ts with the
 * rules reader against the corpus's schemas (created in a private embedded PostgreSQL),
 * prints one line per miss and ends with the summary line. `--show <words>` prints the reading of
 * every description containing the words, span by span. Exit code 1 when any reading is wrong.
 */
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { createCorpusDatabases, evaluate } from '../test/descriptions/evaluate.js';
import { rulesReader } from '../test/descriptions/readers.js';

const showAt = process.argv.indexOf('--show');
const show = showAt > 0 ? process.argv[showAt + 1] : undefined;
const server = await startEmbeddedPostgres();
let wrong = 0;
try {
  const urls = await createCorpusDatabases(async (name) => {
    await server.createDatabase(name);
    return server.url(name);
  });
  const result = await evaluate(urls, rulesReader, show === undefined ? {} : { show });
  for (const miss of result.misses) console.log(miss);
  console.log(result.line);
  wrong = result.counts.wrong;
} finally {
  await server.stop();
}
process.exitCode = wrong > 0 ? 1 : 0;
