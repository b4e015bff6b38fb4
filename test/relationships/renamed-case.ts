import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * A legacy HR/sales schema whose tables were renamed in the new one (employee → staff_members,
 * customer → customers, ticket → tickets), so names alone tie nothing together:
 * - employee.reports_to is a declared self-reference; the target calls it `manager`;
 * - customer.support_rep_id has a declared FK to employee; the target calls it `support_rep`;
 * - ticket.handled_by_id points at employee with no declared FK, and one value (999) has no
 *   employee at all.
 * Keys are not in insertion order and most managers have a higher emp_no than their reports.
 */
export const LEGACY_DDL = `
CREATE TABLE employee (
  emp_no integer PRIMARY KEY,
  first_name varchar(40) NOT NULL,
  last_name varchar(40) NOT NULL,
  reports_to integer REFERENCES employee(emp_no),
  hire_date timestamp,
  address text,
  city text,
  state char(2)
);
INSERT INTO employee VALUES
  (40, 'Priya', 'Raman', NULL, '2002-08-14 09:00', '12 Elm St', 'Calgary', 'AB'),
  (12, 'Zoë', 'O''Hara', 40, '2003-05-01 00:00', NULL, 'Calgary', 'AB'),
  (7, 'Miguel', 'Núñez', 12, NULL, '  7 Oak Ave ', 'Edmonton', 'AB'),
  (55, 'Ana', 'Lee', 40, '2004-01-02 13:30', '1 Pine Rd', 'Lethbridge', NULL),
  (3, 'Ted', 'Lane', 55, '2004-03-04 00:00', '', NULL, 'AB'),
  (21, 'Kurt', 'Gödel', 7, '2005-11-30 23:59', '3 Birch Ln', 'Calgary', 'AB');
CREATE TABLE customer (
  cust_id integer PRIMARY KEY,
  company text NOT NULL,
  support_rep_id integer REFERENCES employee(emp_no),
  city text,
  fax text
);
INSERT INTO customer VALUES
  (101, 'Embraer', 3, 'São José', NULL),
  (9, 'Riotur', 3, 'Rio', '+55 21'),
  (230, 'JetBrains s.r.o.', 55, 'Prague', NULL),
  (17, 'Telus', 21, 'Vancouver', NULL),
  (44, 'Woodstock Discos', NULL, NULL, NULL),
  (5, 'Apple Inc.', 7, 'Cupertino', '408'),
  (61, 'Banco do Brasil', 3, 'Brasília', NULL),
  (88, 'Rogers', NULL, 'Toronto', NULL),
  (2, 'Microsoft', 12, 'Redmond', NULL);
CREATE TABLE ticket (
  ticket_no integer PRIMARY KEY,
  subject text NOT NULL,
  handled_by_id integer,
  opened_at timestamp
);
INSERT INTO ticket VALUES
  (1001, 'Printer on fire', 21, '2020-01-01'),
  (1000, 'VPN down', 7, NULL),
  (1007, 'Lost badge', NULL, '2020-02-02'),
  (1003, 'Invoice wrong', 999, '2020-03-03'),
  (1002, 'Password reset', 40, '2020-04-04');
`;

export const TARGET_DDL = `
CREATE TABLE staff_members (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  first_name text NOT NULL,
  last_name text NOT NULL,
  manager uuid REFERENCES staff_members(id),
  hired_on date
);
CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  company text NOT NULL,
  support_rep uuid REFERENCES staff_members(id)
);
CREATE TABLE tickets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subject text NOT NULL,
  handled_by uuid REFERENCES staff_members(id)
);
`;

/** Legacy (child → parent) pairs as the legacy data holds them, NULLs included, by child key. */
export const MANAGERS: Array<[number, number | null]> = [[3, 55], [7, 12], [12, 40], [21, 7], [40, null], [55, 40]];
export const SUPPORT_REPS: Array<[number, number | null]> = [[2, 12], [5, 7], [9, 3], [17, 21], [44, null], [61, 3], [88, null], [101, 3], [230, 55]];
/** 1003 → 999 has no employee: an orphan. */
export const HANDLERS: Array<[number, number | null]> = [[1000, 7], [1001, 21], [1002, 40], [1003, null], [1007, null]];

export type RenamedCase = DatabasePair;

export function createRenamedCase(): Promise<RenamedCase> {
  return createDatabasePair('ren_', { legacy: (url) => runScript(url, LEGACY_DDL), target: (url) => runScript(url, TARGET_DDL) });
}
