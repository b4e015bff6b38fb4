import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * Three legacy tables that depend on each other, for migrations that depend on migrations:
 * employees report to employees (a self-reference whose parents often come later in key
 * order), customers have a support rep, invoices belong to customers — two of them to
 * customers that do not exist (the legacy FK was added NOT VALID over old data).
 */
export const LEGACY_DDL = `
CREATE TABLE employees (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, reports_to integer REFERENCES employees(id));
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, support_rep_id integer REFERENCES employees(id));
CREATE TABLE invoices (id serial PRIMARY KEY, customer_id integer NOT NULL, total numeric(10,2) NOT NULL);
INSERT INTO employees (id, first_name, last_name, reports_to) VALUES
  (1, 'Ann', 'Archer', NULL), (2, 'Bob', 'Baker', NULL), (3, 'Cid', 'Cole', NULL), (4, 'Dee', 'Dunn', NULL),
  (5, 'Eve', 'Evans', NULL), (6, 'Fay', 'Ford', NULL), (7, 'Gus', 'Gray', NULL), (8, 'Hal', 'Hart', NULL);
-- Eve (5) leads; most people report to someone with a higher id, so in key order the child comes first.
UPDATE employees SET reports_to = 5 WHERE id IN (1, 2);
UPDATE employees SET reports_to = 1 WHERE id IN (3, 4);
UPDATE employees SET reports_to = 7 WHERE id = 6;
UPDATE employees SET reports_to = 8 WHERE id = 7;
UPDATE employees SET reports_to = 2 WHERE id = 8;
SELECT setval('employees_id_seq', 8);
INSERT INTO customers (id, name, support_rep_id) VALUES
  (1, 'Acme', 3), (2, 'Globex', 4), (3, 'Initech', 3), (4, 'Umbrella', NULL), (5, 'Hooli', 6), (6, 'Vandelay', 7);
SELECT setval('customers_id_seq', 6);
INSERT INTO invoices (id, customer_id, total) VALUES
  (1, 1, 100.00), (2, 1, 250.50), (3, 2, 80.00), (4, 99, 12.00), (5, 3, 999.99),
  (6, 4, 1.00), (7, 5, 42.00), (8, 98, 7.50), (9, 6, 60.00), (10, 6, 61.00);
SELECT setval('invoices_id_seq', 10);
ALTER TABLE invoices ADD CONSTRAINT invoices_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id) NOT VALID;
`;

export const TARGET_DDL = `
CREATE TABLE employees (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_id integer UNIQUE,
  first_name text NOT NULL,
  last_name text NOT NULL,
  reports_to uuid REFERENCES employees(id)
);
CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_id integer UNIQUE,
  name text NOT NULL,
  support_rep_id uuid REFERENCES employees(id)
);
CREATE TABLE invoices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_id integer UNIQUE,
  customer_id uuid REFERENCES customers(id),
  total numeric(10,2) NOT NULL
);
`;

/** Legacy invoices whose customer does not exist. */
export const ORPHAN_INVOICES = ['4', '8'];

export type FkCase = DatabasePair;


export function createFkCase(): Promise<FkCase> {
  return createDatabasePair('fk_', { legacy: (url) => runScript(url, LEGACY_DDL), target: (url) => runScript(url, TARGET_DDL) });
}
