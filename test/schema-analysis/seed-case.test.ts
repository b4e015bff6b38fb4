import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeSchemas,
  closestNames,
  focusSource,
  requireColumn,
  requireTable,
} from '../../agents/schema-analysis/index.js';
import { SchemaAnalysis, findEnum } from '../../src/core/artifacts/schema-analysis.js';
import { createLegacyDatabase, createTargetDatabase, TECHNICIAN_GROUP_ID, TECHNICIAN_ROLES } from '../../src/demo/seed-case.js';
import { NotFoundError } from '../../src/core/errors.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

describe('schema analysis of the seed case', () => {
  let legacy: TestDatabase;
  let target: TestDatabase;
  let source: pg.Client;
  let dest: pg.Client;
  let analysis: SchemaAnalysis;
  const progress: string[] = [];

  beforeAll(async () => {
    legacy = await createTestDatabase('sa_legacy');
    target = await createTestDatabase('sa_target');
    await createLegacyDatabase(legacy.url);
    await createTargetDatabase(target.url);
    source = new pg.Client({ connectionString: legacy.url });
    dest = new pg.Client({ connectionString: target.url });
    await source.connect();
    await dest.connect();
    analysis = await analyzeSchemas({
      source,
      target: dest,
      now: () => new Date('2026-01-02T03:04:05Z'),
      onProgress: (l) => progress.push(l),
    });
  });
  afterAll(async () => {
    await source?.end();
    await dest?.end();
    await legacy?.drop();
    await target?.drop();
  });

  it('passes its own zod schema and says who made it', () => {
    expect(SchemaAnalysis.safeParse(analysis).success).toBe(true);
    expect(analysis.generator).toBe('deterministic');
    expect(analysis.createdAt).toBe('2026-01-02T03:04:05.000Z');
    expect(analysis.source.role).toBe('source');
    expect(analysis.source.database).toBe(legacy.name);
    expect(analysis.target.database).toBe(target.name);
    expect(analysis.source.serverVersion).toMatch(/^\d+/);
    expect(progress.some((l) => l.startsWith('source: ') && l.includes('dispatch_role'))).toBe(true);
  });

  it('finds every user table of both databases and nothing of the system', () => {
    const names = (db: SchemaAnalysis['source']) => db.tables.map((t) => `${t.schema}.${t.name}`);
    expect(names(analysis.source)).toEqual([
      'public.dispatch_group',
      'public.dispatch_job',
      'public.dispatch_role',
      'public.dispatch_user',
    ]);
    expect(names(analysis.target)).toEqual(['auth.users', 'public.profiles', 'public.technician_roles']);
    expect(analysis.target.schemas).toEqual(['auth', 'public']);
  });

  it('reads technician_roles exactly as its DDL declares it', () => {
    const t = requireTable(analysis.target, 'technician_roles');
    expect(t.columns).toEqual([
      { name: 'id', ordinal: 1, pgType: 'uuid', category: 'uuid', nullable: false, default: 'gen_random_uuid()', isIdentity: false, isGenerated: false, maxLength: null },
      { name: 'technician_id', ordinal: 2, pgType: 'uuid', category: 'uuid', nullable: false, default: null, isIdentity: false, isGenerated: false, maxLength: null },
      {
        name: 'role_type',
        ordinal: 3,
        pgType: 'technician_type',
        category: 'enum',
        enumType: 'public.technician_type',
        nullable: false,
        default: null,
        isIdentity: false,
        isGenerated: false,
        maxLength: null,
      },
      { name: 'role_name', ordinal: 4, pgType: 'text', category: 'string', nullable: false, default: null, isIdentity: false, isGenerated: false, maxLength: null },
      { name: 'abbreviation', ordinal: 5, pgType: 'character varying', category: 'string', nullable: true, default: null, isIdentity: false, isGenerated: false, maxLength: null },
      { name: 'is_active', ordinal: 6, pgType: 'boolean', category: 'boolean', nullable: true, default: 'true', isIdentity: false, isGenerated: false, maxLength: null },
      { name: 'assigned_at', ordinal: 7, pgType: 'timestamp with time zone', category: 'timestamp', nullable: true, default: 'now()', isIdentity: false, isGenerated: false, maxLength: null },
      { name: 'legacy_role_id', ordinal: 8, pgType: 'integer', category: 'integer', nullable: true, default: null, isIdentity: false, isGenerated: false, maxLength: null },
    ]);
    expect(t.primaryKey).toEqual(['id']);
    expect(t.uniqueKeys).toEqual([]);
    expect(t.foreignKeys).toEqual([
      { name: 'technician_roles_technician_id_fkey', columns: ['technician_id'], refSchema: 'public', refTable: 'profiles', refColumns: ['id'] },
    ]);
    expect(t.rowCount).toBe(0);
    expect(t.rowCountExact).toBe(true);
    expect(t.profiles).toEqual([]);
  });

  it('reads varchar lengths, serial defaults and unique keys of the legacy side', () => {
    const role = requireTable(analysis.source, 'dispatch_role');
    expect(requireColumn(role, 'name')).toMatchObject({ pgType: 'character varying(100)', maxLength: 100, nullable: false, category: 'string' });
    expect(requireColumn(role, 'id').default).toBe(`nextval('dispatch_role_id_seq'::regclass)`);
    expect(requireColumn(role, 'order')).toMatchObject({ category: 'integer', nullable: true });
    const user = requireTable(analysis.source, 'dispatch_user');
    expect(user.uniqueKeys).toEqual([['username']]);
    expect(requireColumn(user, 'created')).toMatchObject({ category: 'date', default: 'CURRENT_DATE' });
    const job = requireTable(analysis.source, 'dispatch_job');
    expect(requireColumn(job, 'id')).toMatchObject({ pgType: 'bigint', category: 'bigint' });
    expect(requireColumn(job, 'amount')).toMatchObject({ pgType: 'numeric(10,2)', category: 'numeric' });
    expect(job.rowCount).toBe(1500);
  });

  it('lists the technician_type values in declaration order', () => {
    expect(findEnum(analysis.target, 'public.technician_type')?.values).toEqual([
      'designing',
      'manufacturing',
      'master',
      'quality_control',
      'remote',
      'sectioning',
    ]);
  });

  it('finds the foreign key from profiles to auth.users', () => {
    const profiles = requireTable(analysis.target, 'profiles');
    expect(profiles.foreignKeys).toEqual([
      { name: 'profiles_id_fkey', columns: ['id'], refSchema: 'auth', refTable: 'users', refColumns: ['id'] },
    ]);
    expect(requireTable(analysis.target, 'users', 'auth').uniqueKeys).toEqual([['email']]);
  });

  it('classifies dispatch_role as catalog and dispatch_job as transactional, with reasons', () => {
    const role = requireTable(analysis.source, 'dispatch_role').classification;
    expect(role.kind).toBe('catalog');
    expect(role.reasons.join('\n')).toMatch(/small: \d+ rows/);
    expect(role.reasons.join('\n')).toContain('referenced by 1 foreign key of other tables (public.dispatch_job(role_id))');
    expect(role.reasons.join('\n')).toContain('no timestamp or date columns');
    expect(role.reasons.join('\n')).toContain('name-like text columns');

    const job = requireTable(analysis.source, 'dispatch_job').classification;
    expect(job.kind).toBe('transactional');
    expect(job.reasons.join('\n')).toContain('created_at (timestamp with time zone)');
    expect(job.reasons.join('\n')).toContain('numeric amount columns: amount');
    expect(job.reasons.join('\n')).toContain('bigint primary key (id)');
  });

  it('profiles dispatch_role.group_id with every group and its count, most frequent first', async () => {
    const role = requireTable(analysis.source, 'dispatch_role');
    const expected = await source.query<{ value: string; count: string }>(
      'SELECT group_id::text AS value, count(*) AS count FROM dispatch_role GROUP BY group_id ORDER BY count(*) DESC, group_id',
    );
    const profile = role.profiles.find((p) => p.column === 'group_id');
    expect(profile).toEqual({
      column: 'group_id',
      distinctCount: expected.rows.length,
      values: expected.rows.map((r) => ({ value: r.value, count: Number(r.count) })),
    });
    expect(profile?.values[0]).toEqual({ value: String(TECHNICIAN_GROUP_ID), count: 31 });
    // Keys are not profiled; the 53 distinct names are over the whole-table limit of 50.
    expect(role.profiles.map((p) => p.column)).not.toContain('id');
    expect(role.profiles.map((p) => p.column)).not.toContain('name');
    expect(role.profiles.map((p) => p.column)).toContain('type');
  });

  it('focuses on group_id = 11: 31 rows and each of the 31 names once', async () => {
    const focused = await focusSource(analysis, source, {
      schema: 'public',
      table: 'dispatch_role',
      filters: [{ column: 'group_id', op: '=', value: TECHNICIAN_GROUP_ID }],
    });
    expect(focused.focus?.rowCount).toBe(31);
    const names = focused.focus?.profiles.find((p) => p.column === 'name');
    expect(names?.distinctCount).toBe(31);
    expect(names?.values.map((v) => v.value).sort()).toEqual(TECHNICIAN_ROLES.map((r) => r[0]).sort());
    expect(names?.values.every((v) => v.count === 1)).toBe(true);
    expect(focused.focus?.profiles.find((p) => p.column === 'group_id')?.values).toEqual([{ value: '11', count: 31 }]);
    expect(focused.focus?.profiles.find((p) => p.column === 'type')?.values).toEqual([{ value: 'technician', count: 31 }]);
    // The nulls of abbrev are values too: a mapping must say what happens to them.
    expect(focused.focus?.profiles.find((p) => p.column === 'abbrev')?.values).toContainEqual({ value: null, count: 3 });
    expect(focused.focus?.profiles.map((p) => p.column)).not.toContain('id');
    // The rest of the analysis is carried over untouched.
    expect(focused.source).toEqual(analysis.source);
    expect(SchemaAnalysis.safeParse(focused).success).toBe(true);
  });

  it('names the closest columns when a filter column does not exist', async () => {
    const err = await focusSource(analysis, source, {
      schema: 'public',
      table: 'dispatch_role',
      filters: [{ column: 'groupid', op: '=', value: 11 }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('COLUMN_NOT_FOUND');
    expect((err as NotFoundError).details?.['suggestions']).toEqual(expect.arrayContaining(['group_id']));
    expect((err as NotFoundError).hint).toContain('"group_id"');
  });

  it('rejects a filter value of the wrong type as the user\'s input, not a database failure', async () => {
    const err = await focusSource(analysis, source, {
      schema: 'public',
      table: 'dispatch_role',
      filters: [{ column: 'group_id', op: '=', value: 'eleven' }],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FILTER_VALUE_INVALID', category: 'user' });
  });

  it('suggests the closest tables for a missing one', () => {
    const err = (() => {
      try {
        requireTable(analysis.source, 'dispatch_roles');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('TABLE_NOT_FOUND');
    const suggestions = (err as NotFoundError).details?.['suggestions'] as string[];
    expect(suggestions[0]).toBe('dispatch_role');
    expect(suggestions).toHaveLength(3);
    expect((err as NotFoundError).message).toContain('closest: dispatch_role');
    expect(() => requireTable(analysis.target, 'user')).toThrow(/auth\.users/);
    expect(requireTable(analysis.target, 'auth.users').schema).toBe('auth');
  });

  it('ranks names by edit distance and shared words', () => {
    expect(closestNames('dispatch_roles', ['dispatch_job', 'dispatch_role', 'dispatch_user', 'dispatch_group'], 1)).toEqual(['dispatch_role']);
    expect(closestNames('TechnicianRole', ['profiles', 'technician_roles', 'users'], 1)).toEqual(['technician_roles']);
    expect(closestNames('x', [], 3)).toEqual([]);
  });

  it('gives the same content when run twice, apart from createdAt', async () => {
    const again = await analyzeSchemas({ source, target: dest });
    expect({ ...again, createdAt: analysis.createdAt }).toEqual(analysis);
  });
});
