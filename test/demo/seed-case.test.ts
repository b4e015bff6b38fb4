import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyDatabase, createTargetDatabase, TECHNICIAN_ROLES } from '../../src/demo/seed-case.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

describe('the seed case databases', () => {
  let legacy: TestDatabase;
  let target: TestDatabase;
  beforeAll(async () => {
    legacy = await createTestDatabase('legacy');
    target = await createTestDatabase('target');
    await createLegacyDatabase(legacy.url);
    await createTargetDatabase(target.url);
  });
  afterAll(async () => {
    await legacy?.drop();
    await target?.drop();
  });

  it('holds the 31 technician roles of group 11 and at least 20 roles of other groups', async () => {
    const c = new pg.Client({ connectionString: legacy.url });
    await c.connect();
    try {
      const g11 = await c.query<{ name: string }>('SELECT name FROM dispatch_role WHERE group_id = 11 ORDER BY id');
      expect(g11.rows.map((r) => r.name).sort()).toEqual(TECHNICIAN_ROLES.map((r) => r[0]).sort());
      const others = await c.query<{ n: string }>('SELECT count(*) AS n FROM dispatch_role WHERE group_id <> 11');
      expect(Number(others.rows[0]?.n)).toBeGreaterThanOrEqual(20);
    } finally {
      await c.end();
    }
  });

  it('gives the expected 21/3/4/2/1 split and includes every name the case study shows', () => {
    const counts = new Map<string, number>();
    for (const [, , t] of TECHNICIAN_ROLES) counts.set(t, (counts.get(t) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ manufacturing: 21, designing: 3, sectioning: 4, remote: 2, master: 1 });
    const names = TECHNICIAN_ROLES.map((r) => r[0]);
    for (const n of ['Manufacturing Technician', 'MT-IPR/Sticker', 'Designing Technician', 'DT-IDB', 'Sectioning Technician', 'AT/Bracket/IDB', 'Remote Technician', 'DTR-Alejandro', 'Supervisor']) {
      expect(names).toContain(n);
    }
  });

  it('creates technician_roles empty, with the case study DDL, next to technician profiles', async () => {
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    try {
      const n = await c.query<{ n: string }>('SELECT count(*) AS n FROM technician_roles');
      expect(Number(n.rows[0]?.n)).toBe(0);
      const e = await c.query<{ v: string }>(`SELECT unnest(enum_range(NULL::technician_type))::text AS v`);
      expect(e.rows.map((r) => r.v)).toEqual(['designing', 'manufacturing', 'master', 'quality_control', 'remote', 'sectioning']);
      const t = await c.query<{ n: string }>(`SELECT count(*) AS n FROM profiles WHERE profile_type = 'technician'`);
      expect(Number(t.rows[0]?.n)).toBeGreaterThan(1);
    } finally {
      await c.end();
    }
  });
});
