import { describeStatus, listControls } from '../../control/control-tables.js';
import { queueSettings } from '../../queue/settings.js';
import { queueSection } from '../../queue/show.js';
import { listRecordedRuns, showRun, stateUrl, withStore } from '../../service/commands.js';
import { defineCommand, HELP_FLAG, optionalPositiveInteger } from '../args.js';
import { runIdArg, URL_FLAGS, withConnections, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const runsCmd = defineCommand({
  name: 'runs',
  summary: SUMMARIES.runs,
  usage: `ferry runs [--limit <n>]
ferry runs show <run>`,
  flags: {
    ...HELP_FLAG,
    limit: { type: 'string', value: '<n>', help: 'how many of the latest runs to list (default 20)' },
    ...URL_FLAGS,
  },
  details: `Lists runs recorded in the target's migration_control; "show" prints one run of the run
store: its timeline and logs, what it ran (plan, bundle, image), checksums, validation report;
for a run queued for ferry worker processes, also its key ranges (state, rows, attempts, worker, last
error), what each range inserted (from the target's mappings, over every attempt) and the workers
that held them (host, pid, last heartbeat, alive or stale).`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    const limit = optionalPositiveInteger('--limit', v.limit, 20);
    if (positionals[0] === 'show') {
      const id = runIdArg(positionals[1]);
      const config = withUrls(loadConfig(), v);
      const code = await withStore(config, (store) => showRun(store, id, say));
      // A queued run's partitions, workers and what each range inserted, when it was one.
      for (const line of await queueSection(stateUrl(config), id, config.targetUrl ?? null, queueSettings(process.env).leaseMs)) say(line);
      return code;
    }
    const config = withUrls(loadConfig(), v);
    await withConnections(config, async (conn) => {
      const rows = await listControls(conn.target, limit);
      say('Migrations (migration_control; ferry validate / rollback <id>)');
      if (rows.length === 0) say('no runs recorded yet');
      for (const r of rows) {
        say(`${String(r.id).padStart(5)}  ${describeStatus(r).padEnd(11)} ${r.planId} r${r.planRevision}  inserted ${r.rowsInserted}, skipped ${r.rowsSkipped}  ${String(r.startedAt)}${r.error ? `  ${r.errorCode}: ${r.error}` : ''}`);
      }
      await withStore(config, (store) => listRecordedRuns(store, limit, say));
    });
    return 0;
  },
});
