import { analysisHash } from '../../src/core/artifacts/schema-analysis.js';
import { MigrationPlan, type ColumnMapping, type EnumValueMapping } from '../../src/core/artifacts/migration-plan.js';
import { SchemaAnalysis, type ColumnInfo, type TableInfo, type TypeCategory } from '../../src/core/artifacts/schema-analysis.js';

/**
 * The seed case by hand: legacy public.dispatch_role → target public.technician_roles, with
 * the role names mapped onto technician_type. Both objects go through their zod schemas, so
 * a fixture that drifts from the artifacts fails here rather than in a test.
 */

export const TECHNICIAN_ID = '7f0c2a3d-1f5e-4830-8fec-07e631f56f2e';

interface ColumnSpec {
  pgType: string;
  category: TypeCategory;
  nullable?: boolean;
  default?: string;
  enumType?: string;
  maxLength?: number;
}

function columns(specs: Record<string, ColumnSpec>): ColumnInfo[] {
  return Object.entries(specs).map(([name, s], i) => ({
    name,
    ordinal: i + 1,
    pgType: s.pgType,
    category: s.category,
    ...(s.enumType !== undefined ? { enumType: s.enumType } : {}),
    nullable: s.nullable ?? true,
    default: s.default ?? null,
    isIdentity: false,
    isGenerated: false,
    maxLength: s.maxLength ?? null,
  }));
}

function table(name: string, cols: ColumnInfo[], rest: Partial<TableInfo> = {}): TableInfo {
  return {
    schema: 'public',
    name,
    columns: cols,
    primaryKey: ['id'],
    uniqueKeys: [],
    foreignKeys: [],
    rowCount: 0,
    rowCountExact: true,
    profiles: [],
    classification: { kind: 'unknown', reasons: [] },
    ...rest,
  };
}

const NAME_VALUES: Array<[string, number]> = [
  ['Manufacturing Technician', 21],
  ['MT-IPR/Sticker', 3],
  ['DT-IDB', 2],
  ['Designing Technician', 1],
  ['Supervisor', 1],
];

export interface FixtureOptions {
  /** Extra source columns (appended to dispatch_role). */
  extraSource?: Record<string, ColumnSpec>;
  /** Extra target columns (appended to technician_roles). */
  extraTarget?: Record<string, ColumnSpec>;
}

export function analysisFixture(options: FixtureOptions = {}): SchemaAnalysis {
  const dispatchRole = table(
    'dispatch_role',
    columns({
      id: { pgType: 'integer', category: 'integer', nullable: false, default: "nextval('dispatch_role_id_seq'::regclass)" },
      name: { pgType: 'character varying(100)', category: 'string', nullable: false, maxLength: 100 },
      abbrev: { pgType: 'character varying(20)', category: 'string', maxLength: 20 },
      type: { pgType: 'character varying(30)', category: 'string', maxLength: 30 },
      order: { pgType: 'integer', category: 'integer' },
      user_id: { pgType: 'integer', category: 'integer' },
      group_id: { pgType: 'integer', category: 'integer' },
      ...options.extraSource,
    }),
    {
      rowCount: 120,
      profiles: [{ column: 'name', distinctCount: NAME_VALUES.length, values: NAME_VALUES.map(([value, count]) => ({ value, count })) }],
      classification: { kind: 'catalog', reasons: ['few rows, a name column, referenced by other tables'] },
    },
  );
  const profiles = table(
    'profiles',
    columns({
      id: { pgType: 'uuid', category: 'uuid', nullable: false },
      profile_type: { pgType: 'text', category: 'string' },
      full_name: { pgType: 'text', category: 'string' },
    }),
    { rowCount: 3 },
  );
  const technicianRoles = table(
    'technician_roles',
    columns({
      id: { pgType: 'uuid', category: 'uuid', nullable: false, default: 'gen_random_uuid()' },
      technician_id: { pgType: 'uuid', category: 'uuid', nullable: false },
      role_type: { pgType: 'technician_type', category: 'enum', enumType: 'public.technician_type', nullable: false },
      role_name: { pgType: 'text', category: 'string', nullable: false },
      abbreviation: { pgType: 'character varying', category: 'string' },
      is_active: { pgType: 'boolean', category: 'boolean', default: 'true' },
      assigned_at: { pgType: 'timestamp with time zone', category: 'timestamp', default: 'now()' },
      legacy_role_id: { pgType: 'integer', category: 'integer' },
      ...options.extraTarget,
    }),
    {
      foreignKeys: [
        { name: 'technician_roles_technician_id_fkey', columns: ['technician_id'], refSchema: 'public', refTable: 'profiles', refColumns: ['id'] },
      ],
    },
  );
  return SchemaAnalysis.parse({
    kind: 'schema_analysis',
    version: 1,
    createdAt: '2026-11-24T02:00:00.000Z',
    source: { role: 'source', database: 'legacy', serverVersion: '17.6', schemas: ['public'], tables: [dispatchRole], enums: [] },
    target: {
      role: 'target',
      database: 'target',
      serverVersion: '17.6',
      schemas: ['public'],
      tables: [profiles, technicianRoles],
      enums: [
        { schema: 'public', name: 'technician_type', values: ['designing', 'manufacturing', 'master', 'quality_control', 'remote', 'sectioning'] },
      ],
    },
    focus: {
      schema: 'public',
      table: 'dispatch_role',
      filters: [{ column: 'group_id', op: '=', value: 11 }],
      rowCount: 28,
      profiles: [{ column: 'name', distinctCount: NAME_VALUES.length, values: NAME_VALUES.map(([value, count]) => ({ value, count })) }],
    },
    generator: 'deterministic',
  });
}

function value(source: string, target: string, rule: string, detail: string, count: number, confidence = 1): EnumValueMapping {
  return { source, count, target, rule, detail, confidence, status: 'mapped', alternatives: [] };
}

export interface PlanOptions {
  status?: MigrationPlan['status'];
  extraSourceColumns?: string[];
  extraColumns?: ColumnMapping[];
}

export function planFixture(analysis: SchemaAnalysis, options: PlanOptions = {}): MigrationPlan {
  const status = options.status ?? 'approved';
  const column = (target: string, targetType: string, origin: ColumnMapping['origin'], reason: string): ColumnMapping => ({
    target,
    targetType,
    origin,
    reason,
    confidence: 0.95,
    status: 'mapped',
  });
  return MigrationPlan.parse({
    kind: 'migration_plan',
    version: 1,
    id: 'dispatch_role-to-technician_roles-1a2b3c4d',
    revision: 2,
    status,
    createdAt: '2026-11-24T02:01:00.000Z',
    ...(status === 'approved' ? { approvedAt: '2026-11-24T02:05:00.000Z', approvedBy: 'ana' } : {}),
    description: 'Move the technician roles (group 11) of dispatch_role into technician_roles',
    analysisHash: analysisHash(analysis),
    generator: { kind: 'deterministic', version: 'planning/test' },
    source: {
      schema: 'public',
      table: 'dispatch_role',
      key: 'id',
      columns: ['id', 'name', 'abbrev', ...(options.extraSourceColumns ?? [])],
      filters: [{ column: 'group_id', op: '=', value: 11 }],
      rowCount: 28,
    },
    target: { schema: 'public', table: 'technician_roles', primaryKey: 'id' },
    columns: [
      column('id', 'uuid', { kind: 'generated_uuid' }, 'new primary key, minted per row'),
      column('technician_id', 'uuid', { kind: 'foreign_key' }, 'required reference to profiles'),
      column('role_type', 'technician_type', { kind: 'enum_map', source: 'name' }, 'role names carry the technician type'),
      column('role_name', 'text', { kind: 'copy', source: 'name' }, 'from name: same words once the table subjects are set aside'),
      column('abbreviation', 'character varying', { kind: 'copy', source: 'abbrev' }, 'from abbrev: one name abbreviates the other'),
      column('is_active', 'boolean', { kind: 'default' }, 'database default true'),
      column('assigned_at', 'timestamp with time zone', { kind: 'default' }, 'database default now()'),
      column('legacy_role_id', 'integer', { kind: 'copy', source: 'id' }, 'keeps the legacy key dispatch_role.id'),
      ...(options.extraColumns ?? []),
    ],
    enumMappings: [
      {
        targetColumn: 'role_type',
        enumType: 'public.technician_type',
        enumValues: ['designing', 'manufacturing', 'master', 'quality_control', 'remote', 'sectioning'],
        sourceColumn: 'name',
        reason: 'name covers every row and its words name the enum values',
        values: [
          value('Manufacturing Technician', 'manufacturing', 'word', 'word "manufacturing"', 21),
          value('MT-IPR/Sticker', 'manufacturing', 'learned_abbreviation', 'token "MT" (prefix code learned from "Manufacturing Technician")', 3, 0.85),
          value('DT-IDB', 'designing', 'learned_abbreviation', 'token "DT" (prefix code learned from "Designing Technician")', 2, 0.85),
          value('Designing Technician', 'designing', 'word', 'word "designing"', 1),
          value('Supervisor', 'master', 'synonym', 'synonym "supervisor" of master', 1, 0.9),
        ],
      },
    ],
    foreignKeys: [
      {
        column: 'technician_id',
        refSchema: 'public',
        refTable: 'profiles',
        refColumn: 'id',
        strategy: 'fixed_value',
        value: TECHNICIAN_ID,
        candidateFilter: "profile_type = 'technician'",
        candidateCount: 2,
        candidates: [
          { value: TECHNICIAN_ID, label: 'Lead Technician' },
          { value: '0b5e0f4a-9c1d-4e2b-8a7f-3d6c5b4a3921', label: 'Night Shift' },
        ],
        reason: 'the reviewer chose the lead technician profile to own the role templates',
        status: 'overridden',
      },
    ],
    strategy: { type: 'catalog_with_enum_mapping', batchSize: 500, dependencies: ['profiles'], transformations: ['map_role_names_to_technician_type_enum'] },
    validations: ['count_match', 'mapping_completeness', 'row_content', 'enum_distribution', 'fk_integrity'],
    risk: { level: 'low', reasons: [] },
    overrides: [{ at: '2026-11-24T02:04:00.000Z', by: 'ana', what: 'technician_id = lead technician' }],
  });
}
