import { InputError } from '../../core/errors.js';
import { rollbackMigration } from '../../orchestrator/rollback.js';
import { QueueDb } from '../../queue/queue-db.js';
import { rollbackQueuedRun } from '../../queue/rollback-run.js';
import { stateUrl, withStore } from '../../service/commands.js';
import { defineCommand, HELP_FLAG, positiveInteger } from '../args.js';
import type { FerryConfig } from '../../config.js';
import type { Say } from '../../chain.js';
import { migrationIdArg, URL_FLAGS, withConnections, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const rollbackCmd = defineCommand({
  name: 'rollback',
  summary: SUMMARIES.rollback,
  usage: `ferry rollback <migration-id> [--batch <n>] [--cascade] [--trust-control] [--source <url>] [--target <url>]
ferry rollback <queued-run-id> --queue [--trust-control]`,
  flags: {
    ...HELP_FLAG,
    batch: { type: 'string', value: '<n>', help: 'roll back only this batch of the run' },
    cascade: { type: 'boolean', help: 'first roll back the runs whose rows point at this run\'s rows, latest first' },
    'trust-control': { type: 'boolean', help: 'roll back a run the run store has no record of, trusting its migration_control row' },
    queue: { type: 'boolean', help: 'the id is a queued run (ferry run --queue printed it): roll back every range of every plan of it at once' },
    ...URL_FLAGS,
  },
  details: `Deletes exactly the rows that run inserted (through its mappings), its mappings, and marks
the run rolled_back. One transaction: all or nothing. Refused while rows of other runs point
at this run's rows; --cascade rolls those runs back first, latest first.
--queue: the id is a queued run's. Every range of every plan (children before parents) in one
transaction, all or nothing; refused while any range of it is still running or queued.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    if (v.queue === true) {
      for (const flag of ['batch', 'cascade'] as const) {
        if (v[flag] !== undefined && v[flag] !== false) {
          throw new InputError('CLI_FLAG_INVALID', `--queue does not take --${flag}`, { hint: 'a queued run is rolled back whole; roll back one range with ferry rollback <migration-id> (ferry runs show <run> lists them)' });
        }
      }
      return rollbackQueued(withUrls(loadConfig(), v), positiveInteger('<queued-run-id>', positionals[0] ?? '', { code: 'ARG_INVALID', hint: 'the id ferry run --queue printed ("queued run N")' }), v['trust-control'] === true, say);
    }
    const id = migrationIdArg(positionals[0]);
    const batch = v.batch === undefined ? undefined : positiveInteger('--batch', v.batch, { hint: 'the batch numbers of a run: ferry runs show <run>' });
    const config = withUrls(loadConfig(), v);
    const r = await withConnections(config, (conn) =>
      withStore(config, (store) => rollbackMigration({ migrationId: id, target: conn.target, store, cascade: v.cascade === true, trustControl: v['trust-control'] === true, ...(batch === undefined ? {} : { batch }) })),
    );
    for (const c of r.cascaded ?? []) say(`↩ dependant migration ${c.migrationId} rolled back first: ${c.rowsDeleted} rows and ${c.mappingsDeleted} mappings deleted`);
    say(
      r.status === 'already_rolled_back'
        ? `migration ${id} was already rolled back; nothing to do`
        : `↩ migration ${id}${batch === undefined ? '' : ` batch ${batch}`} rolled back: ${r.rowsDeleted} rows and ${r.mappingsDeleted} mappings deleted`,
    );
    return 0;
  },
});

async function rollbackQueued(config: FerryConfig, queueRunId: number, trustControl: boolean, say: Say): Promise<number> {
  const queue = await QueueDb.open(stateUrl(config));
  try {
    const r = await withConnections(config, (conn) => withStore(config, (store) => rollbackQueuedRun({ queue, queueRunId, target: conn.target, store, trustControl, by: config.user })));
    if (r.status === 'already_rolled_back') {
      say(`queued run ${queueRunId} was already rolled back; nothing to do`);
      return 0;
    }
    for (const p of r.plans) say(`↩ ${p.targetTable}: ${p.rowsDeleted} rows and ${p.mappingsDeleted} mappings deleted (migrations ${p.migrationIds.join(', ')})`);
    say(`↩ queued run ${queueRunId} rolled back in one transaction: ${r.rowsDeleted} rows and ${r.mappingsDeleted} mappings deleted`);
    return 0;
  } finally {
    await queue.close();
  }
}
