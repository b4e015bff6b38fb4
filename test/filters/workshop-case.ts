import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * A workshop's staff list, not the case study: a dirty trade column (16 values sharing the
 * prefix "MT-", a trade that must not move, NULLs, stray spaces and case), a parent table
 * (site) and a child's names that differ from the target's.
 */
export const MT_TRADES = [
  'MT-Polishing', 'MT-Casting', 'MT-Milling', 'MT-Welding', 'MT-Grinding', 'MT-Drilling', 'MT-Turning', 'MT-Anodizing',
  'MT-Brazing', 'MT-Forging', 'MT-Honing', 'MT-Lapping', 'MT-Plating', 'MT-Riveting', 'MT-Stamping', 'MT-Tapping',
] as const;

const LEGACY = `
CREATE TABLE site (site_code text PRIMARY KEY, site_name text NOT NULL, closed boolean NOT NULL DEFAULT false);
INSERT INTO site VALUES ('N1', 'North yard', false), ('S2', 'South hall', true);
CREATE TABLE workshop_staff (
  staff_no integer PRIMARY KEY,
  display_name text NOT NULL,
  trade text,
  site_code text REFERENCES site (site_code),
  started date,
  last_seen timestamptz NOT NULL DEFAULT '2023-06-01 12:00:00+00'
);
INSERT INTO workshop_staff (staff_no, display_name, trade, site_code, started)
SELECT 100 + i, 'worker ' || i, t.trade, CASE WHEN i % 3 = 0 THEN 'S2' ELSE 'N1' END, DATE '2015-01-01' + i * 17
  FROM generate_series(1, 32) AS i
  JOIN (SELECT row_number() OVER () AS n, x AS trade FROM unnest(ARRAY[${MT_TRADES.map((t) => `'${t}'`).join(', ')}]) AS x) t ON t.n = (i - 1) % 16 + 1;
INSERT INTO workshop_staff (staff_no, display_name, trade, site_code, started) VALUES
  (201, 'Ana Lind', 'Logistics', 'N1', '2019-03-04'),
  (202, 'Bo Sten', 'logistics', 'S2', '2020-07-01'),
  (203, 'Cy Moor', 'Office', 'N1', '2018-11-30'),
  (204, 'Di Vale', 'Volunteer', 'N1', '2023-05-05'),
  (205, 'Ed Roe', 'Volunteer', 'S2', '2023-06-06'),
  (206, 'Fay Quill', NULL, 'N1', '2021-01-01'),
  (207, 'Gus Yarrow', NULL, 'S2', NULL),
  (208, 'Hal *Star', 'MT*Special', 'N1', '2022-02-02');
-- Either side of midnight UTC on new year's eve: a session in another time zone would disagree.
UPDATE workshop_staff SET last_seen = '2023-12-31 20:00:00+00' WHERE staff_no = 203;
UPDATE workshop_staff SET last_seen = '2024-01-01 10:00:00+00' WHERE staff_no = 202;
`;

const TARGET = `
CREATE TYPE craft AS ENUM ('manufacturing', 'logistics', 'office');
CREATE TABLE crew_members (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name text NOT NULL,
  craft craft NOT NULL,
  started date
);
`;

export function createWorkshopCase(): Promise<DatabasePair> {
  return createDatabasePair('workshop_', { legacy: (u) => runScript(u, LEGACY), target: (u) => runScript(u, TARGET) });
}

export const WORKSHOP_DESCRIPTION = 'move the rows from workshop_staff into crew_members';
