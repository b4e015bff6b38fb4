import pg from 'pg';

/**
 * The technician_roles case study (shared/seed) as two real databases: a legacy dispatch
 * system and a Supabase-shaped target. Used by `npm run demo`, `ferry serve --demo` and the
 * tests. Names follow the case study; the rest is made up to be realistic.
 */

export const TECHNICIAN_GROUP_ID = 11;

/** [name, abbrev] of the 31 roles of group 11, with the enum value a reviewer expects. */
export const TECHNICIAN_ROLES: ReadonlyArray<readonly [string, string | null, string]> = [
  ['Manufacturing Technician', 'MT', 'manufacturing'],
  ['MT-IPR/Sticker', 'IPR', 'manufacturing'],
  ['MT-Aligners', 'ALN', 'manufacturing'],
  ['MT-Retainers', 'RET', 'manufacturing'],
  ['MT-Bite Splints', 'BSP', 'manufacturing'],
  ['MT-Night Guards', 'NG', 'manufacturing'],
  ['MT-Model Pour', 'MP', 'manufacturing'],
  ['MT-Trimming', 'TRM', 'manufacturing'],
  ['MT-Thermoforming', 'THF', 'manufacturing'],
  ['MT-Finishing', 'FIN', 'manufacturing'],
  ['MT-Polishing', 'POL', 'manufacturing'],
  ['MT-Packaging', 'PKG', 'manufacturing'],
  ['MT-3D Printing', '3DP', 'manufacturing'],
  ['MT-Scanning', 'SCN', 'manufacturing'],
  ['MT-Labeling', 'LBL', 'manufacturing'],
  ['MT-Acrylic', 'ACR', 'manufacturing'],
  ['MT-Wire Bending', 'WB', 'manufacturing'],
  ['MT-Soldering', 'SLD', 'manufacturing'],
  ['MT-Hawley', 'HAW', 'manufacturing'],
  ['MT-Expanders', 'EXP', 'manufacturing'],
  ['MT-Band Fitting', 'BF', 'manufacturing'],
  ['Designing Technician', 'DT', 'designing'],
  ['DT-IDB', null, 'designing'],
  ['DT-Aligner Setup', 'ASU', 'designing'],
  ['Sectioning Technician', 'ST', 'sectioning'],
  ['AT/Bracket/IDB', null, 'sectioning'],
  ['IDB Sectioning', 'IDB', 'sectioning'],
  ['ST-Die Cutting', 'DC', 'sectioning'],
  ['Remote Technician', 'DTR', 'remote'],
  ['DTR-Alejandro', null, 'remote'],
  ['Supervisor', 'SUP', 'master'],
];

/** Roles of other groups: they must never move. Some would match the enum rules on purpose. */
const OTHER_ROLES: ReadonlyArray<readonly [number, string, string | null]> = [
  [10, 'Receptionist', 'REC'],
  [10, 'Office Manager', 'OM'],
  [10, 'Accountant', 'ACC'],
  [10, 'Billing Clerk', 'BC'],
  [10, 'HR Coordinator', 'HR'],
  [10, 'Quality Auditor', 'QA'],
  [10, 'Office Supervisor', 'OS'],
  [12, 'Driver', 'DRV'],
  [12, 'Courier', 'CR'],
  [12, 'Route Planner', 'RP'],
  [12, 'MT-Delivery Van', 'MTV'],
  [12, 'Dispatcher', 'DSP'],
  [12, 'Fleet Mechanic', 'FM'],
  [13, 'Support Agent', 'SA'],
  [13, 'Remote Support Agent', 'RSA'],
  [13, 'Team Lead', 'TL'],
  [13, 'Escalations', 'ESC'],
  [13, 'Chat Agent', 'CA'],
  [14, 'Sales Rep', 'SR'],
  [14, 'Account Manager', 'AM'],
  [14, 'Designing Consultant', 'DC'],
  [14, 'Sales Director', 'SD'],
];

export const LEGACY_DDL = `
CREATE TABLE dispatch_group (
  id integer PRIMARY KEY,
  name varchar(60) NOT NULL
);
CREATE TABLE dispatch_user (
  id serial PRIMARY KEY,
  username varchar(60) NOT NULL UNIQUE,
  group_id integer REFERENCES dispatch_group(id),
  created date NOT NULL DEFAULT current_date
);
CREATE TABLE dispatch_role (
  id serial PRIMARY KEY,
  name varchar(100) NOT NULL,
  abbrev varchar(20),
  type varchar(30),
  "order" integer,
  user_id integer REFERENCES dispatch_user(id),
  group_id integer REFERENCES dispatch_group(id)
);
CREATE TABLE dispatch_job (
  id bigserial PRIMARY KEY,
  role_id integer REFERENCES dispatch_role(id),
  case_number varchar(20) NOT NULL,
  status varchar(20) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  amount numeric(10,2)
);
`;

/**
 * Supabase's three Data API roles, created once per server: roles are cluster-wide, and other
 * databases on it (the tests' among them) may be creating them at the same moment.
 */
export const SUPABASE_ROLES_SQL = `
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT%s', r, CASE WHEN r = 'service_role' THEN ' BYPASSRLS' ELSE '' END);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END LOOP;
END $$;
`;

/**
 * Supabase's Data API roles, as a Supabase project has them: created once per server (roles
 * are cluster-wide, and other databases on it may be creating them at the same moment),
 * USAGE on the schemas and SELECT on the table granted to all three, auth.uid() reading the
 * request's JWT, and one policy: a technician (authenticated) reads their own roles.
 */
const SUPABASE_DDL = `
${SUPABASE_ROLES_SQL}CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $fn$ SELECT nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid $fn$;
GRANT USAGE ON SCHEMA public, auth TO anon, authenticated, service_role;
GRANT SELECT ON technician_roles TO anon, authenticated, service_role;
CREATE POLICY technicians_read_own_roles ON technician_roles FOR SELECT TO authenticated USING (technician_id = auth.uid());
`;

export const TARGET_DDL = `
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE auth.users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE profiles (
  id uuid PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
  profile_type text NOT NULL CHECK (profile_type IN ('admin', 'customer', 'technician')),
  full_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TYPE technician_type AS ENUM ('designing', 'manufacturing', 'master', 'quality_control', 'remote', 'sectioning');
CREATE TABLE technician_roles (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  technician_id UUID NOT NULL REFERENCES profiles(id),
  role_type technician_type NOT NULL,
  role_name TEXT NOT NULL,
  abbreviation VARCHAR,
  is_active BOOLEAN DEFAULT true,
  assigned_at TIMESTAMPTZ DEFAULT now(),
  legacy_role_id INTEGER
);
ALTER TABLE technician_roles ENABLE ROW LEVEL SECURITY;
${'' /* What the app will see (ferry's app-visibility report): Supabase's roles and grants, one policy. */}
${SUPABASE_DDL}
`;

/** Profiles of the target, oldest first. Ids are fixed so tests and the README can name them. */
export const PROFILES: ReadonlyArray<readonly [string, 'admin' | 'customer' | 'technician', string, string]> = [
  ['0b7e3f6a-9d1c-4c55-8a1e-2f4d6b8c0a01', 'admin', 'Dana Whitfield', '2023-01-09T08:00:00Z'],
  ['72c23a3d-1f5e-4830-8fec-07e631f56f2e', 'technician', 'Alejandro Ruiz', '2023-02-14T09:30:00Z'],
  ['5d1f0c2e-7b3a-4e8f-9c6d-1a2b3c4d5e02', 'technician', 'Mei Tanaka', '2023-05-02T10:15:00Z'],
  ['a4c9e8b7-2d3f-4a1b-8c7d-6e5f4a3b2c03', 'technician', 'Oluwaseun Adeyemi', '2024-03-21T14:45:00Z'],
  ['c3b2a190-8f7e-4d6c-9b5a-0f1e2d3c4b04', 'customer', 'Bright Smiles Dental', '2023-03-01T12:00:00Z'],
  ['d4c3b2a1-9e8f-4c7d-8a6b-1c2d3e4f5a05', 'customer', 'Riverside Orthodontics', '2023-06-11T12:00:00Z'],
  ['e5d4c3b2-0f9e-4d8c-9b7a-2d3e4f5a6b06', 'customer', 'Northgate Family Dentistry', '2024-01-19T12:00:00Z'],
];

/** Runs `fn` in one transaction on a fresh connection: a seed is all there or not at all. */
async function inTransaction(url: string, fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    await fn(c);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    await c.end();
  }
}

export async function createLegacyDatabase(url: string): Promise<void> {
  await inTransaction(url, async (c) => {
    await c.query(LEGACY_DDL);
    await c.query(
      `INSERT INTO dispatch_group (id, name) VALUES (10, 'Office'), (11, 'Technicians'), (12, 'Logistics'), (13, 'Customer Service'), (14, 'Sales')`,
    );
    await c.query(
      `INSERT INTO dispatch_user (username, group_id, created)
       SELECT 'user' || g, 10 + (g % 5), date '2019-01-01' + g FROM generate_series(1, 12) g`,
    );
    // Interleave groups the way a legacy table grows, so the filter has real work to do.
    const rows: Array<[string, string | null, string, number, number, number]> = [];
    let order = 1;
    const tech = [...TECHNICIAN_ROLES];
    const other = [...OTHER_ROLES];
    while (tech.length > 0 || other.length > 0) {
      const t = tech.shift();
      if (t) rows.push([t[0], t[1], 'technician', order++, 1 + (order % 12), TECHNICIAN_GROUP_ID]);
      if (order % 3 === 0) {
        const o = other.shift();
        if (o) rows.push([o[1], o[2], o[0] === 13 ? 'agent' : 'staff', order++, 1 + (order % 12), o[0]]);
      }
      if (tech.length === 0) {
        for (const o of other.splice(0)) rows.push([o[1], o[2], 'staff', order++, 1 + (order % 12), o[0]]);
      }
    }
    for (const r of rows) {
      await c.query(`INSERT INTO dispatch_role (name, abbrev, type, "order", user_id, group_id) VALUES ($1, $2, $3, $4, $5, $6)`, r);
    }
    await c.query(
      `INSERT INTO dispatch_job (role_id, case_number, status, created_at, amount)
       SELECT 1 + (g % 40), 'C-' || lpad(g::text, 6, '0'), (ARRAY['open','in_progress','shipped','closed'])[1 + g % 4],
              timestamptz '2022-01-01 00:00+00' + (g || ' hours')::interval, (g % 500) + 0.99
       FROM generate_series(1, 1500) g`,
    );
  });
}

export async function createTargetDatabase(url: string): Promise<void> {
  await inTransaction(url, async (c) => {
    await c.query(TARGET_DDL);
    for (const [id, type, name, created] of PROFILES) {
      await c.query(`INSERT INTO auth.users (id, email, created_at) VALUES ($1, $2, $3)`, [
        id,
        `${name.toLowerCase().replace(/[^a-z]+/g, '.')}@example.com`,
        created,
      ]);
      await c.query(`INSERT INTO profiles (id, profile_type, full_name, created_at) VALUES ($1, $2, $3, $4)`, [id, type, name, created]);
    }
  });
}

export const DEMO_DESCRIPTION = 'Migrate the technician roles of group 11 from dispatch_role into technician_roles';
