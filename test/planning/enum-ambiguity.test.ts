import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnumValueMapping } from '../../src/core/artifacts/migration-plan.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * Enum values that two targets claim, and values whose words mostly mean nothing to any
 * rule (issue 13): a person decides, the first matching word does not.
 */
const LEGACY = `
CREATE TABLE crew (crew_id integer PRIMARY KEY, title text);
INSERT INTO crew VALUES
  (31, 'Sales Manager'), (4, 'Regional Manager'), (18, 'Sales Rep'), (7, 'Sales Rep'),
  (2, 'Please ask the master key holder before opening the vault'), (90, 'Master Mechanic'), (11, 'support'), (12, 'MANAGEMENT');
`;
const TARGET = `
CREATE TYPE band_kind AS ENUM ('sales', 'management', 'support', 'master');
CREATE TABLE people (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), title text, band band_kind);
`;

describe('enum values that two targets claim, or that the rules barely know', () => {
  let db: DatabasePair;
  let conn: Connections;
  let values: EnumValueMapping[];
  const value = (v: string) => values.find((x) => x.source === v)!;
  beforeAll(async () => {
    db = await createDatabasePair('enum_', { legacy: (u) => runScript(u, LEGACY), target: (u) => runScript(u, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
    const { plan } = await describeToPlan({ description: 'move the rows from crew into people', conn });
    expect(plan.enumMappings.map((m) => `${m.sourceColumn}→${m.targetColumn}`)).toEqual(['title→band']);
    values = plan.enumMappings[0]!.values;
  });
  afterAll(async () => {
    await conn?.close();
    await db?.drop();
  });

  it('"Sales Manager" carries sales and a form of management: flagged with both, not decided by its first word', () => {
    expect(value('Sales Manager')).toMatchObject({ target: null, status: 'needs_review', confidence: 0 });
    expect(value('Sales Manager').alternatives.map((a) => a.target).sort()).toEqual(['management', 'sales']);
    expect(value('Sales Manager').detail).toContain('rules disagree');
  });

  it('manager ~ management: a word stem matches another form of the enum word', () => {
    expect(value('Regional Manager')).toMatchObject({ target: 'management', rule: 'word', status: 'mapped' });
    expect(value('MANAGEMENT')).toMatchObject({ target: 'management', rule: 'exact', status: 'mapped' });
  });

  it('a sentence that happens to contain "master" gets low confidence and review, not word 0.95', () => {
    const v = value('Please ask the master key holder before opening the vault');
    expect(v).toMatchObject({ target: null, status: 'needs_review' });
    expect(v.confidence).toBeLessThan(0.5);
    expect(v.detail).toContain('only 1 of its 10 words ("master")');
    expect(v.alternatives.map((a) => a.target)).toEqual(['master']);
  });

  it('short values named by one rule stay mapped', () => {
    expect(value('Master Mechanic')).toMatchObject({ target: 'master', status: 'mapped' });
    expect(value('Sales Rep')).toMatchObject({ target: 'sales', status: 'mapped', count: 2 });
    expect(value('support')).toMatchObject({ target: 'support', rule: 'exact', status: 'mapped' });
  });
});
