import pg from 'pg';
import { createLegacyDatabase, createTargetDatabase } from '../../src/demo/seed-case.js';

/**
 * The corpus's database pairs. The case study is the demo's own; the music store, the clinic
 * and the library are ours: other names, new names differing from old (member → patrons,
 * loan → borrowings), parents and children, dirty values (blank strings, mixed case, NULLs).
 * The films are Pagila's definitions (devrimgunduz/pagila), moved into a schema whose columns
 * were renamed (description → synopsis, length → runtime_minutes) and whose rating enum is new.
 */
export type CorpusSchema = 'case' | 'music' | 'clinic' | 'library' | 'films';

export interface SchemaPair {
  name: CorpusSchema;
  createSource(url: string): Promise<void>;
  createTarget(url: string): Promise<void>;
}

async function exec(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const MUSIC_SOURCE = `
CREATE TABLE employee (
  employee_id integer PRIMARY KEY, first_name varchar(40) NOT NULL, last_name varchar(40) NOT NULL,
  title varchar(60), reports_to integer REFERENCES employee(employee_id), email varchar(80),
  hire_date timestamp, country varchar(40), is_active boolean NOT NULL DEFAULT true
);
CREATE TABLE customer (
  customer_id integer PRIMARY KEY, first_name varchar(40) NOT NULL, last_name varchar(40) NOT NULL,
  company varchar(80), country varchar(40), email varchar(80), phone varchar(24),
  support_rep_id integer REFERENCES employee(employee_id), active boolean, created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE genre (genre_id integer PRIMARY KEY, name varchar(120));
CREATE TABLE media_type (media_type_id integer PRIMARY KEY, name varchar(120));
CREATE TABLE track (
  track_id integer PRIMARY KEY, name varchar(200) NOT NULL, genre_id integer REFERENCES genre(genre_id),
  media_type_id integer NOT NULL REFERENCES media_type(media_type_id), composer varchar(220),
  milliseconds integer NOT NULL, unit_price numeric(10,2) NOT NULL
);
CREATE TABLE invoice (
  invoice_id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customer(customer_id),
  invoice_date timestamp NOT NULL, billing_country varchar(40), total numeric(10,2) NOT NULL
);
INSERT INTO employee VALUES
  (1, 'Andrew', 'Adams', 'General Manager', NULL, 'andrew@chinookcorp.com', '2002-08-14', 'Canada', true),
  (2, 'Nancy', 'Edwards', 'Sales Manager', 1, 'nancy@chinookcorp.com', '2002-05-01', 'Canada', true),
  (3, 'Jane', 'Peacock', 'Sales Support Agent', 2, 'JANE@chinookcorp.com ', '2022-04-01', 'Canada', true),
  (4, 'Margaret', 'Park', 'Sales Support Agent', 2, NULL, '2024-05-03', 'Canada', false),
  (5, 'Steve', 'Johnson', 'Supervisor', 2, '', '2025-10-17', 'USA', true);
INSERT INTO customer (customer_id, first_name, last_name, company, country, email, support_rep_id, active) VALUES
  (1, 'Luís', 'Gonçalves', 'Embraer', 'Brazil', 'luisg@embraer.com.br', 3, true),
  (2, 'Leonie', 'Köhler', NULL, 'Germany', 'leonekohler@surfeu.de', 5, true),
  (3, 'François', 'Tremblay', NULL, 'Canada', NULL, 3, false),
  (4, 'Bjørn', 'Hansen', NULL, 'Norway', ' bjorn@hansen.no', 4, NULL);
INSERT INTO genre VALUES (1, 'Rock'), (2, 'Jazz'), (3, 'Metal'), (4, 'Latin'), (5, NULL);
INSERT INTO media_type VALUES (1, 'MPEG audio file'), (2, 'Protected AAC audio file'), (3, 'AAC audio file');
INSERT INTO track VALUES
  (1, 'For Those About To Rock', 1, 1, 'Angus Young', 343719, 0.99),
  (2, 'Balls to the Wall', 1, 2, NULL, 342562, 0.99),
  (3, 'Desafinado', 2, 1, 'Jobim', 185338, 0.99),
  (4, 'Enter Sandman', 3, 3, 'Hetfield', 331560, 1.99);
INSERT INTO invoice VALUES
  (1, 1, '2021-01-01', 'Brazil', 1.98), (2, 2, '2024-02-11', 'Germany', 13.86), (3, 4, '2025-07-30', NULL, 0.00);
`;

const MUSIC_TARGET = `
CREATE TABLE staff_members (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), full_name text NOT NULL, email text, job_title text,
  manager_id uuid REFERENCES staff_members(id), hired_on date, legacy_employee_id integer
);
CREATE TABLE customers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), first_name text NOT NULL, last_name text NOT NULL, email text,
  company_name text, country text, account_manager_id uuid REFERENCES staff_members(id), is_active boolean NOT NULL DEFAULT true
);
CREATE TABLE genres (id serial PRIMARY KEY, label text NOT NULL);
CREATE TYPE audio_format AS ENUM ('mp3', 'aac', 'aac_protected');
CREATE TABLE tracks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), title text NOT NULL, genre_id integer REFERENCES genres(id),
  format audio_format, composer text, duration_ms integer NOT NULL, price_cents integer NOT NULL
);
CREATE TABLE invoices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), customer_id uuid NOT NULL REFERENCES customers(id),
  issued_at timestamptz NOT NULL, country text, total numeric(10,2) NOT NULL
);
`;

const CLINIC_SOURCE = `
CREATE TABLE site (site_id integer PRIMARY KEY, site_name varchar(80) NOT NULL, city varchar(60));
CREATE TABLE doctor (doc_id integer PRIMARY KEY, doc_name varchar(80) NOT NULL, specialty varchar(40), site_id integer REFERENCES site(site_id));
CREATE TABLE patient (
  pat_id integer PRIMARY KEY, given_name varchar(60), family_name varchar(60) NOT NULL, birth_date date,
  status varchar(20), deceased boolean NOT NULL DEFAULT false, site_id integer REFERENCES site(site_id), registered_on date NOT NULL
);
CREATE TABLE appointment (
  appt_id bigint PRIMARY KEY, pat_id integer NOT NULL REFERENCES patient(pat_id), doc_id integer REFERENCES doctor(doc_id),
  scheduled_at timestamp NOT NULL, state varchar(12) NOT NULL, cancelled boolean NOT NULL DEFAULT false, notes text
);
INSERT INTO site VALUES (1, 'North Clinic', 'Leeds'), (2, 'Riverside', 'York'), (3, 'Old Town', NULL);
INSERT INTO doctor VALUES (1, 'Dr. Okafor', 'cardiology', 1), (2, 'Dr. Lindqvist', 'Pediatrics ', 2), (3, 'Dr. Mehta', NULL, 1);
INSERT INTO patient VALUES
  (1, 'Amara', 'Okoye', '1980-02-29', 'active', false, 1, '2019-03-01'),
  (2, NULL, 'Smith', NULL, 'ACTIVE', false, 2, '2023-11-20'),
  (3, 'Jonas', 'Berg', '1951-07-04', 'archived', true, 1, '2024-01-15'),
  (4, 'Ana', 'García', '2015-12-01', '', false, 3, '2025-05-05');
INSERT INTO appointment VALUES
  (1, 1, 1, '2024-03-01 09:00', 'done', false, NULL), (2, 2, 2, '2025-01-10 14:30', 'booked', false, 'bring results'),
  (3, 3, NULL, '2023-06-30 08:15', 'no-show', true, '');
`;

const CLINIC_TARGET = `
CREATE TABLE locations (id serial PRIMARY KEY, name text NOT NULL, city text);
CREATE TABLE physicians (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, specialty text, location_id integer REFERENCES locations(id));
CREATE TYPE patient_status AS ENUM ('active', 'archived', 'deceased');
CREATE TABLE patients (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), first_name text, last_name text NOT NULL, date_of_birth date,
  status patient_status NOT NULL, location_id integer REFERENCES locations(id), legacy_patient_id integer
);
CREATE TABLE visits (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), patient_id uuid NOT NULL REFERENCES patients(id),
  physician_id uuid REFERENCES physicians(id), starts_at timestamptz NOT NULL, outcome text, note text
);
`;

// A lending library whose tables were renamed on the way (branch → libraries, member →
// patrons, loan → borrowings); German and Spanish data, as its descriptions are.
const LIBRARY_SOURCE = `
CREATE TABLE branch (branch_id integer PRIMARY KEY, branch_name varchar(80) NOT NULL, city varchar(60));
CREATE TABLE member (
  member_id integer PRIMARY KEY, fname varchar(40), lname varchar(40) NOT NULL, email varchar(120),
  branch_id integer REFERENCES branch(branch_id), tier varchar(12), active boolean NOT NULL DEFAULT true, joined_on date NOT NULL
);
CREATE TABLE loan (
  loan_id bigint PRIMARY KEY, member_id integer NOT NULL REFERENCES member(member_id), book_title varchar(200) NOT NULL,
  loaned_at timestamp NOT NULL, returned boolean NOT NULL DEFAULT false, fee numeric(8,2)
);
INSERT INTO branch VALUES (1, 'Central', 'Sevilla'), (2, 'Hafen', 'Hamburg'), (3, 'Norte', NULL);
INSERT INTO member VALUES
  (1, 'Lucía', 'Fernández', 'LUCIA@mail.es', 1, 'gold', true, '2018-04-02'),
  (2, NULL, 'Schulz', ' schulz@web.de', 2, 'BASIC', true, '2024-09-10'),
  (3, 'Pablo', 'Ruiz', '', 1, '', false, '2021-01-20'),
  (4, 'Greta', 'Vogel', NULL, 3, 'staff', true, '2026-05-01');
INSERT INTO loan VALUES
  (1, 1, 'Don Quijote', '2025-02-01 10:00', true, 0), (2, 2, 'Der Zauberberg', '2026-06-01 16:00', false, 1.50),
  (3, 4, 'Rayuela', '2023-12-24 09:30', false, NULL);
`;

const LIBRARY_TARGET = `
CREATE TABLE libraries (id serial PRIMARY KEY, name text NOT NULL, city text);
CREATE TYPE patron_tier AS ENUM ('basic', 'gold', 'staff');
CREATE TABLE patrons (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), first_name text, last_name text NOT NULL, email text,
  library_id integer REFERENCES libraries(id), tier patron_tier, member_since date NOT NULL, legacy_member_id integer
);
CREATE TABLE borrowings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), patron_id uuid NOT NULL REFERENCES patrons(id), title text NOT NULL,
  borrowed_at timestamptz NOT NULL, is_returned boolean NOT NULL DEFAULT false, fee_cents integer
);
`;

// Pagila's language, film and actor as its dump defines them: a domain (year), an enum
// (mpaa_rating) whose codes no rule maps, char(20), smallint, text[] and tsvector columns.
export const FILMS_SOURCE = `
CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE TABLE language (language_id serial PRIMARY KEY, name character(20) NOT NULL, last_update timestamp NOT NULL DEFAULT now());
CREATE TABLE actor (actor_id serial PRIMARY KEY, first_name varchar(45) NOT NULL, last_name varchar(45) NOT NULL, last_update timestamp NOT NULL DEFAULT now());
CREATE TABLE film (
  film_id serial PRIMARY KEY, title varchar(255) NOT NULL, description text, release_year year,
  language_id smallint NOT NULL REFERENCES language(language_id), original_language_id smallint REFERENCES language(language_id),
  rental_duration smallint NOT NULL DEFAULT 3, rental_rate numeric(4,2) NOT NULL DEFAULT 4.99, length smallint,
  replacement_cost numeric(5,2) NOT NULL DEFAULT 19.99, rating mpaa_rating DEFAULT 'G', last_update timestamp NOT NULL DEFAULT now(),
  special_features text[], fulltext tsvector NOT NULL
);
INSERT INTO language (name) VALUES ('English'), ('Italian'), ('Japanese'), ('Mandarin');
INSERT INTO actor (first_name, last_name) VALUES ('PENELOPE', 'GUINESS'), ('NICK', 'WAHLBERG'), ('ED', 'CHASE');
INSERT INTO film (title, description, release_year, language_id, original_language_id, rental_duration, rental_rate, length, replacement_cost, rating, special_features, fulltext) VALUES
  ('ACADEMY DINOSAUR', 'A Epic Drama of a Feminist', 2012, 1, NULL, 6, 0.99, 86, 20.99, 'PG', '{"Deleted Scenes"}', to_tsvector('academy dinosaur')),
  ('ACE GOLDFINGER', 'A Astounding Epistle', 2012, 1, 3, 3, 4.99, 48, 12.99, 'G', '{Trailers}', to_tsvector('ace goldfinger')),
  ('ADAPTATION HOLES', NULL, NULL, 2, NULL, 7, 2.99, 50, 18.99, 'NC-17', NULL, to_tsvector('adaptation holes')),
  ('AGENT TRUMAN', 'A Intrepid Panorama', 2006, 1, NULL, 3, 2.99, NULL, 17.99, 'PG-13', '{}', to_tsvector('agent truman')),
  ('AIRPLANE SIERRA', 'A Touching Saga', 2006, 4, 2, 6, 4.99, 62, 28.99, 'R', '{Commentaries}', to_tsvector('airplane sierra'));
`;

export const FILMS_TARGET = `
CREATE TABLE languages (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_language_id integer UNIQUE, name text NOT NULL);
CREATE TYPE content_rating AS ENUM ('general', 'parental_guidance', 'parents_strongly_cautioned', 'restricted', 'adults_only');
CREATE TABLE movies (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_film_id integer UNIQUE, title text NOT NULL, synopsis text, released_in integer,
  language_id uuid NOT NULL REFERENCES languages(id), original_language_id uuid REFERENCES languages(id),
  rental_days integer NOT NULL, rental_price numeric(4,2) NOT NULL, runtime_minutes integer, replacement_price numeric(5,2) NOT NULL,
  rating content_rating, features text[], updated_at timestamptz NOT NULL
);
CREATE TABLE performers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_actor_id integer UNIQUE, full_name text NOT NULL, updated_at timestamptz NOT NULL);
`;

export const SCHEMA_PAIRS: SchemaPair[] = [
  { name: 'case', createSource: createLegacyDatabase, createTarget: createTargetDatabase },
  { name: 'music', createSource: (u) => exec(u, MUSIC_SOURCE), createTarget: (u) => exec(u, MUSIC_TARGET) },
  { name: 'clinic', createSource: (u) => exec(u, CLINIC_SOURCE), createTarget: (u) => exec(u, CLINIC_TARGET) },
  { name: 'library', createSource: (u) => exec(u, LIBRARY_SOURCE), createTarget: (u) => exec(u, LIBRARY_TARGET) },
  { name: 'films', createSource: (u) => exec(u, FILMS_SOURCE), createTarget: (u) => exec(u, FILMS_TARGET) },
];
