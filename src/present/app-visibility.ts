import type { AppVisibility } from '../core/artifacts/validation-report.js';

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
  return out.join('\n');
}
