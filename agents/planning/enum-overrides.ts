import type { EnumMapping, EnumValueMapping, MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { InputError } from '../../src/core/errors.js';
import { parseValueGlob } from '../../src/core/glob.js';

/**
 * Enum values a reviewer sets: one value by name, many by a glob over the flagged values
 * (`MT-*=manufacturing`), or the NULL source value (`--map-null kind=contractor`).
 */

export interface MapOverride {
  /** A source value, or a glob over the flagged ones (src/core/glob.ts). */
  source: string;
  target: string;
  /** The enum's target column (or its source column), where several enums share a value. */
  column?: string;
}

export interface MapNullOverride {
  target: string;
  column?: string;
}

const quoted = (vs: ReadonlyArray<string | null>): string => vs.map((v) => JSON.stringify(v)).join(', ');
const flaggedOf = (mappings: readonly EnumMapping[]): EnumValueMapping[] => mappings.flatMap((m) => m.values.filter((v) => v.status === 'needs_review'));

function forColumn(plan: MigrationPlan, column: string | undefined): EnumMapping[] {
  if (column === undefined) return plan.enumMappings;
  const found = plan.enumMappings.filter((e) => e.targetColumn === column || e.sourceColumn === column);
  if (found.length === 0) {
    throw new InputError('OVERRIDE_UNKNOWN_COLUMN', `the plan maps no enum column "${column}"`, {
      hint: `enum columns in this plan: ${plan.enumMappings.map((e) => `${e.targetColumn} (from ${e.sourceColumn})`).join(', ') || 'none'}`,
    });
  }
  return found;
}

function requireEnumValue(mapping: EnumMapping, target: string): void {
  if (!mapping.enumValues.includes(target)) {
    throw new InputError('OVERRIDE_UNKNOWN_ENUM_VALUE', `"${target}" is not a value of ${mapping.enumType}`, { hint: `use one of: ${mapping.enumValues.join(', ')}` });
  }
}

function setValue(mapping: EnumMapping, v: EnumValueMapping, target: string, by: string): void {
  requireEnumValue(mapping, target);
  Object.assign(v, { target, rule: 'override', detail: `set by ${by}`, confidence: 1, status: 'overridden' as const });
}

/** The values a pattern names: the value spelled exactly as written first, then the glob over flagged values. */
function matchValues(mappings: readonly EnumMapping[], pattern: string): { exact: boolean; hits: Array<{ mapping: EnumMapping; value: EnumValueMapping }>; mapped: EnumValueMapping[] } {
  const exact = mappings.flatMap((mapping) => mapping.values.filter((v) => v.source === pattern).map((value) => ({ mapping, value })));
  if (exact.length > 0) return { exact: true, hits: exact, mapped: [] };
  const glob = parseValueGlob(pattern);
  if (!glob.wildcard) {
    return { exact: true, hits: mappings.flatMap((mapping) => mapping.values.filter((v) => v.source === glob.literal).map((value) => ({ mapping, value }))), mapped: [] };
  }
  const matching = (v: EnumValueMapping) => v.source !== null && glob.test(v.source);
  return {
    exact: false,
    hits: mappings.flatMap((mapping) => mapping.values.filter((v) => v.status === 'needs_review' && matching(v)).map((value) => ({ mapping, value }))),
    mapped: mappings.flatMap((m) => m.values.filter((v) => v.status !== 'needs_review' && matching(v))),
  };
}

function unknownValue(plan: MigrationPlan, m: MapOverride): InputError {
  if (m.source === '') {
    return new InputError('OVERRIDE_UNKNOWN_VALUE', 'an empty source value names no value: a NULL source value is resolved on its own', {
      hint: '--map-null <enum column>=<enum value>, or --exclude-null <column> to leave those rows out',
    });
  }
  const known = plan.enumMappings.flatMap((e) => e.values.map((v) => JSON.stringify(v.source)));
  return new InputError('OVERRIDE_UNKNOWN_VALUE', `no enum mapping has the source value ${JSON.stringify(m.source)}`, {
    hint: `source values in this plan: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`,
  });
}

/** One --map: a value by name, or a glob expanded over the flagged values; returns the revision's note. */
export function overrideEnumValues(plan: MigrationPlan, m: MapOverride, by: string): string {
  const mappings = forColumn(plan, m.column);
  const { exact, hits, mapped } = matchValues(mappings, m.source);
  if (exact) {
    const hit = hits[0];
    if (!hit) throw unknownValue(plan, m);
    const was = hit.value.target ?? 'unresolved';
    setValue(hit.mapping, hit.value, m.target, by);
    return `${hit.mapping.targetColumn}: ${JSON.stringify(hit.value.source)} → ${m.target} (was ${was})`;
  }
  if (hits.length === 0) {
    const flagged = flaggedOf(mappings).map((v) => v.source);
    throw new InputError('OVERRIDE_GLOB_NO_MATCH', `${JSON.stringify(m.source)} matches no flagged source value${mapped.length ? ` (it matches ${quoted(mapped.map((v) => v.source))}, already mapped: name a value in full to change it)` : ''}`, {
      hint: flagged.length ? `flagged values: ${quoted(flagged.slice(0, 20))}${flagged.length > 20 ? ', …' : ''}; * is any run of characters, ? one, \\* a literal *` : 'no value is flagged',
    });
  }
  for (const h of hits) setValue(h.mapping, h.value, m.target, by);
  const columns = [...new Set(hits.map((h) => h.mapping.targetColumn))].join(', ');
  const also = mapped.length ? `; it also matches ${quoted(mapped.map((v) => v.source))}, already mapped: left as they are` : '';
  return `${columns}: ${JSON.stringify(m.source)} → ${m.target} for ${hits.length} flagged value(s): ${quoted(hits.map((h) => h.value.source))}${also}`;
}

/** --map-null: the enum value rows with a NULL source value take. */
export function overrideNullValue(plan: MigrationPlan, m: MapNullOverride, by: string): string {
  const withNull = forColumn(plan, m.column).filter((e) => e.values.some((v) => v.source === null));
  if (withNull.length !== 1) {
    const all = plan.enumMappings.filter((e) => e.values.some((v) => v.source === null)).map((e) => e.targetColumn);
    throw new InputError(
      withNull.length === 0 ? 'OVERRIDE_UNKNOWN_VALUE' : 'OVERRIDE_AMBIGUOUS',
      withNull.length === 0 ? `no enum mapping${m.column ? ` for ${m.column}` : ''} has NULL source values` : `${withNull.length} enum columns have NULL source values: name one`,
      { hint: all.length ? `--map-null <column>=<enum value> with column one of: ${all.join(', ')}` : 'no enum column of this plan meets a NULL' },
    );
  }
  const mapping = withNull[0]!;
  const v = mapping.values.find((x) => x.source === null)!;
  const was = v.target ?? 'unresolved';
  setValue(mapping, v, m.target, by);
  return `${mapping.targetColumn}: NULL → ${m.target} (was ${was})`;
}
