import { analyzeSchemas } from '../../../agents/schema-analysis/index.js';
import { targetTableOf } from '../../chain.js';
import { getControl } from '../../control/control-tables.js';
import { MigrationPlan } from '../../core/artifacts/migration-plan.js';
import { InputError } from '../../core/errors.js';
import { renderReport } from '../../present/render.js';
import { parseAsUser } from '../../target/app-visibility.js';
import { validateMigration } from '../../validation/validate.js';
import { defineCommand, HELP_FLAG } from '../args.js';
import { migrationIdArg, URL_FLAGS, withConnections, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const validateCmd = defineCommand({
  name: 'validate',
  summary: SUMMARIES.validate,
  usage: 'ferry validate <migration-id> [--json] [--as-user <uuid>] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    json: { type: 'boolean', help: 'print the validation report as JSON' },
    'as-user': { type: 'string', value: '<uuid>', help: "the user id authenticated reads as in the app-visibility section (the JWT's sub)" },
    ...URL_FLAGS,
  },
  details: `Re-derives every migrated row from its source row and compares; checks counts, mappings
both ways, the enum distribution and FK integrity. Exit code 1 when a check fails.
On a target with Supabase's roles, also reports what anon, authenticated and service_role
can read of the run's rows (information, never a failure).`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    const id = migrationIdArg(positionals[0]);
    const asUser = parseAsUser(v['as-user']);
    const config = withUrls(loadConfig(), v);
    return withConnections(config, async (conn) => {
      const analysis = await analyzeSchemas({ source: conn.source, target: conn.target });
      const control = await getControl(conn.target, id);
      if (!control) throw new InputError('MIGRATION_NOT_FOUND', `there is no migration ${id}`, { hint: 'list runs with: ferry runs' });
      const plan = MigrationPlan.parse(control.plan);
      const report = await validateMigration({ migrationId: id, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), asUser, dataApi: config.dataApi });
      say(v.json ? JSON.stringify(report, null, 2) : renderReport(report));
      return report.status === 'passed' ? 0 : 1;
    });
  },
});
