import { rollbackMigration } from '../../orchestrator/rollback.js';
import { withStore } from '../../service/commands.js';
import { defineCommand, HELP_FLAG, positiveInteger } from '../args.js';
import { migrationIdArg, URL_FLAGS, withConnections, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const rollbackCmd = defineCommand({
  name: 'rollback',
  summary: SUMMARIES.rollback,
  usage: 'ferry rollback <migration-id> [--batch <n>] [--cascade] [--trust-control] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    batch: { type: 'string', value: '<n>', help: 'roll back only this batch of the run' },
    cascade: { type: 'boolean', help: 'first roll back the runs whose rows point at this run\'s rows, latest first' },
    'trust-control': { type: 'boolean', help: 'roll back a run the run store has no record of, trusting its migration_control row' },
    ...URL_FLAGS,
  },
  details: `Deletes exactly the rows that run inserted (through its mappings), its mappings, and marks
the run rolled_back. One transaction: all or nothing. Refused while rows of other runs point
at this run's rows; --cascade rolls those runs back first, latest first.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
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
