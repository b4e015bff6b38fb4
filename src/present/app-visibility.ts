import type { AppVisibility, DataApiVisibility } from '../core/artifacts/validation-report.js';

/** The app-visibility section of a validation report, as text: one line per role, then the warnings. */
export function renderAppVisibility(v: AppVisibility): string {
  const out: string[] = [];
  out.push(
    `  app visibility (${v.table}, read as the Data API's roles through Postgres${v.asUser ? `, authenticated as user ${v.asUser}` : ''}): RLS ${v.rlsEnabled ? `on${v.rlsForced ? ' (forced)' : ''}` : 'off'}, ${v.migratedRows} migrated row(s) of this run`,
  );
  for (const r of v.roles) {
    const reads = r.readable === null ? `cannot read the table (${r.error ?? 'no access'})` : `reads ${r.readable}/${v.migratedRows}`;
    const policies = r.bypassRls ? 'bypasses RLS' : r.policies.length ? `policies ${r.policies.map((p) => `${p.name} (${p.command}${p.permissive ? '' : ', restrictive'}${p.using ? `: ${p.using}` : ''})`).join(', ')}` : 'no policy';
    out.push(`    ${r.role.padEnd(13)} ${reads} · ${policies} · grants ${r.grants.join(', ') || 'none'}${r.schemaUsage ? '' : ' · no USAGE on the schema'}`);
  }
  for (const w of v.warnings) out.push(`    ⚠ ${w}`);
  if (v.dataApi) out.push(...renderDataApi(v.dataApi, v));
  return out.join('\n');
}

/** The Data API readings beside the Postgres ones: each role's two counts on one line, then the compared sample. */
function renderDataApi(d: DataApiVisibility, v: AppVisibility): string[] {
  const requests = d.roles.reduce((n, r) => Math.max(n, r.requests), 0);
  const how = d.counted === 'whole_table' ? 'every row of the table is this run\'s: one unfiltered count per role' : `the run's keys in ${requests} in.(…) request(s) per role`;
  const out = [`  through the Data API (${d.url}, ${d.client}; ${how}):`];
  if (!d.roles.length) out.push('    no role: no key set');
  for (const r of d.roles) {
    const pg = v.roles.find((p) => p.role === r.role);
    const viaPg = pg ? ` (through Postgres: ${pg.readable === null ? 'cannot read' : `${pg.readable}/${v.migratedRows}`})` : '';
    const reads = r.readable === null ? `fails: ${r.error ?? 'no answer'}` : `reads ${r.readable}/${v.migratedRows}${viaPg}`;
    out.push(`    ${r.role.padEnd(13)} ${reads} · ${r.credential}${r.user ? `, user ${r.user}` : ''}`);
  }
  const s = d.sample;
  if (s && !s.error) {
    out.push(`    sample: ${s.returned} of ${s.requested} row(s) asked for by key as ${s.role}, compared column by column with the database: ${s.differences.length ? `${s.differences.length + s.more} difference(s)` : 'all equal'}`);
    for (const x of s.differences) {
      out.push(`      ${x.key}${x.legacyKey ? ` (legacy ${x.legacyKey})` : ''} ${x.column} ${x.type}: the Data API gave ${x.api ?? '(nothing)'}, the database holds ${x.database ?? 'NULL'} — ${x.note}`);
    }
  }
  if (s?.more) out.push(`      … and ${s.more} more`);
  for (const w of d.warnings) out.push(`    ⚠ ${w}`);
  return out;
}
