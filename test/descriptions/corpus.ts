import type { CorpusSchema } from './schemas.js';

/**
 * Descriptions as people write them, each with the reading a careful person would give it.
 * Written before the reader was tuned; every miss found later is added here.
 *
 * Filters are normalized predicates: conditions joined by " AND " in alphabetical order;
 * strings in single quotes; lists sorted; one excluded value is `<>`, several `NOT IN`.
 * Relative dates are resolved against EVAL_NOW.
 */
export const EVAL_NOW = new Date('2026-06-15T12:00:00Z');

export interface ExpectedReading {
  kind: 'reading';
  /** [source, target] per table, in the order they must run. */
  tables: Array<[string, string]>;
  filter: string;
  /** target column → column-language expression. */
  derive?: Record<string, string>;
  /** source value → enum value. */
  map?: Record<string, string>;
}
export interface ExpectedRefusal {
  kind: 'refuse';
  why: string;
  /** What the refusal (or the review item) must say: the words as written, the closest names. */
  says?: string[];
}
export type Expected = ExpectedReading | ExpectedRefusal;
export interface CorpusCase {
  schema: CorpusSchema;
  text: string;
  expected: Expected;
}

const one = (source: string, target: string, filter = '', extra: { derive?: Record<string, string>; map?: Record<string, string> } = {}): ExpectedReading => ({
  kind: 'reading',
  tables: [[source, target]],
  filter,
  ...extra,
});
const many = (...tables: Array<[string, string]>): ExpectedReading => ({ kind: 'reading', tables, filter: '' });
const refuse = (why: string, ...says: string[]): ExpectedRefusal => ({ kind: 'refuse', why, says });

const ROLES = (filter = '', extra = {}) => one('dispatch_role', 'technician_roles', filter, extra);
const G11 = 'group_id = 11';

const CASE: Array<[string, Expected]> = [
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles', ROLES(G11)],
  ['Migrate the technician roles of group 11 from dispatch_role to technician_roles', ROLES(G11)],
  ['migrate dispatch_role to technician_roles where group_id = 11', ROLES(G11)],
  ['dispatch_role -> technician_roles where group_id = 11', ROLES(G11)],
  ['dispatch_role → technician_roles, group_id = 11', ROLES(G11)],
  ['from dispatch_role into technician_roles where group_id in (11, 12)', ROLES('group_id IN (11, 12)')],
  ['Copy dispatch_role into technician_roles where group_id <> 12', ROLES('group_id <> 12')],
  ['Move dispatch_role into technician_roles where group_id != 10', ROLES('group_id <> 10')],
  ['Move dispatch_role into technician_roles where group_id not in (10, 12)', ROLES('group_id NOT IN (10, 12)')],
  ['Move dispatch_role into technician_roles where abbrev is null', ROLES('abbrev IS NULL')],
  ['Move dispatch_role into technician_roles where abbrev is not null', ROLES('abbrev IS NOT NULL')],
  ["Move dispatch_role into technician_roles where type = 'technician'", ROLES("type = 'technician'")],
  ['Move the dispatch roles into technician roles', ROLES()],
  ['Move all dispatch roles to the technician roles table', ROLES()],
  ['Move all rows of the legacy dispatch_role table into the new technician_roles table', ROLES()],
  ['Migrate dispatch_role into technician_roles, except for group 12', ROLES('group_id <> 12')],
  ['Migrate dispatch_role into technician_roles except group 12', ROLES('group_id <> 12')],
  ['Migrate the roles of groups 11 and 12 from dispatch_role into technician_roles', ROLES('group_id IN (11, 12)')],
  ['Migrate the roles of group 11 or 12 from dispatch_role into technician_roles', ROLES('group_id IN (11, 12)')],
  ['Migrate the roles of groups 11, 12 and 13 from dispatch_role into technician_roles', ROLES('group_id IN (11, 12, 13)')],
  ['Migrate dispatch_role into technician_roles, skipping anything in group 10', ROLES('group_id <> 10')],
  ['Migrate dispatch_role into technician_roles but not group 10', ROLES('group_id <> 10')],
  ['Migrate dispatch_role into technician_roles, excluding groups 10 and 12', ROLES('group_id NOT IN (10, 12)')],
  ['Migrate dispatch_role into technician_roles for all groups other than 10', ROLES('group_id <> 10')],
  ['Migrate dispatch_role into technician_roles without group 14', ROLES('group_id <> 14')],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles, skipping anything in group 10', ROLES(G11)],
  ['Migrate the technician roles of group Technicians from dispatch_role into technician_roles', ROLES(G11)],
  ["Migrate the roles in group 'Technicians' from dispatch_role into technician_roles", ROLES(G11)],
  ['Migrate the roles of the Logistics group from dispatch_role into technician_roles', ROLES('group_id = 12')],
  ['Migrate the roles of group Warehouse from dispatch_role into technician_roles', refuse('no group is called Warehouse', 'Warehouse')],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles but map Supervisor to remote', ROLES(G11, { map: { Supervisor: 'remote' } })],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles, map Supervisor to master', ROLES(G11, { map: { Supervisor: 'master' } })],
  ["Migrate the technician roles of group 11 from dispatch_role into technician_roles (map 'Remote Technician' to remote)", ROLES(G11, { map: { 'Remote Technician': 'remote' } })],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles (but not the Supervisor)', ROLES("group_id = 11 AND name <> 'Supervisor'")],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles, except the Supervisor', ROLES("group_id = 11 AND name <> 'Supervisor'")],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles, keep only the active ones', refuse('dispatch_role has no column saying active', 'active')],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles created since 2024', refuse('dispatch_role has no date column', 'since 2024')],
  ['Migrate the technician roles of group 11 from dispatch_role into technician_roles, abbreviations lowercased', refuse('an instruction about abbreviations the rules cannot bind', 'lowercased')],
  ['I want to migrate the technician roles of group 11 from dispatch_role into technician_roles', ROLES(G11)],
  ['I want to migrate dispatch_role to technician_roles', ROLES()],
  ['Could you please move dispatch_role into technician_roles for group 11?', ROLES(G11)],
  ['Please copy the dispatch_role table to technician_roles (group 11 only)', ROLES(G11)],
  ['Migrate the dispatch_roles_v2 table into technician_roles', refuse('no such source table', 'dispatch_roles_v2', 'dispatch_role')],
  ['Migrate dispatch_roles into technician_roles', ROLES()],
  ['Migrate dispatch_rol into technician_roles', refuse('no such source table', 'dispatch_rol', 'dispatch_role')],
  ['Migrate dispatch_role into technicians', refuse('no such target table', 'technicians', 'technician_roles')],
  ['Migrate dispatch_role into technician_role_v2', refuse('no such target table', 'technician_role_v2', 'technician_roles')],
  ['Migrate the technician roles of group 11', refuse('no source table named', 'technician roles', 'from')],
  ['Migrate the roles', refuse('no source table named without doubt')],
  ['Migrate everything', refuse('no table named')],
  ['', refuse('empty description')],
  ['Migrate dispatch_role into technician_roles where colour = 5', refuse('no column colour', 'colour')],
  ['Migrate dispatch_role into technician_roles where group_id = 11 and abbrev is not null', ROLES('abbrev IS NOT NULL AND group_id = 11')],
  ['Migrate dispatch_role into technician_roles where group_id = 11 or group_id = 12', ROLES('group_id IN (11, 12)')],
  ['Migrate dispatch_role into technician_roles where "order" < 20', ROLES('order < 20')],
  ['Migrate dispatch_role into technician_roles where order >= 5 and group_id = 11', ROLES('group_id = 11 AND order >= 5')],
  ['Migrate dispatch_role into technician_roles for group 11 and keep the order', refuse('an instruction the rules cannot bind', 'keep the order')],
  ['Migriere die Techniker-Rollen der Gruppe 11 von dispatch_role nach technician_roles', ROLES(G11)],
  ['Migriere dispatch_role nach technician_roles, außer Gruppe 12', ROLES('group_id <> 12')],
  ['Übertrage dispatch_role in technician_roles ohne Gruppe 10', ROLES('group_id <> 10')],
  ['Migriere dispatch_role nach technician_roles, aber nicht Gruppe 10', ROLES('group_id <> 10')],
  ['Migriere dispatch_role nach technician_roles für die Gruppen 11 und 12', ROLES('group_id IN (11, 12)')],
  ['Migra los roles del grupo 11 de dispatch_role a technician_roles', ROLES(G11)],
  ['Migra dispatch_role a technician_roles excepto el grupo 12', ROLES('group_id <> 12')],
  ['Migra dispatch_role a technician_roles sin el grupo 10', ROLES('group_id <> 10')],
  ['Migra dispatch_role a technician_roles, salvo el grupo 10', ROLES('group_id <> 10')],
  ['Migra los roles de los grupos 11 y 12 de dispatch_role a technician_roles', ROLES('group_id IN (11, 12)')],
  ['Migra dispatch_role a technician_roles pero no el grupo 13', ROLES('group_id <> 13')],
  ['dispatch_role to technician_roles, group 11', ROLES(G11)],
  ['dispatch_role into technician_roles group=11', ROLES(G11)],
  ['roles grp 11 dispatch_role→technician_roles', refuse('"grp" is not a column word the rules know', 'grp')],
  ['Move dispatch_user into profiles', one('dispatch_user', 'profiles')],
  ['Move the dispatch users of group 10 into profiles', one('dispatch_user', 'profiles', 'group_id = 10')],
  ['Move the dispatch users created since 2024 into profiles', one('dispatch_user', 'profiles', "created >= '2024-01-01'")],
  ['Move the dispatch users created before March 2019 into profiles', one('dispatch_user', 'profiles', "created < '2019-03-01'")],
  ['Move the dispatch users created in the last 90 days into profiles', one('dispatch_user', 'profiles', "created >= '2026-03-17'")],
  ['Move dispatch_user into profiles, not the ones in group 12', one('dispatch_user', 'profiles', 'group_id <> 12')],
  ['Move dispatch users into users', one('dispatch_user', 'auth.users')],
  ['Move dispatch_user, then dispatch_role', refuse('no target for dispatch_user by name', 'dispatch_user')],
  ['Migrate dispatch_job into technician_roles', one('dispatch_job', 'technician_roles')],
  ['Migrate the open dispatch jobs into technician_roles', refuse('"open" is a status value, not read', 'open')],
];

const EMP = (filter = '', extra = {}) => one('employee', 'staff_members', filter, extra);
const CUS = (filter = '', extra = {}) => one('customer', 'customers', filter, extra);
const TRK = (filter = '', extra = {}) => one('track', 'tracks', filter, extra);
const INV = (filter = '', extra = {}) => one('invoice', 'invoices', filter, extra);
const FULL = { full_name: "first_name || ' ' || last_name" };

const MUSIC: Array<[string, Expected]> = [
  ['Move the employees into staff_members', EMP()],
  ['Move employees to staff members', EMP()],
  ['Move the employee table into the staff_members table', EMP()],
  ['Migrate from employee into staff_members', EMP()],
  ['migrate employee -> staff_members', EMP()],
  ['I want to migrate the employees into staff_members', EMP()],
  ['I want to migrate employee to staff_members', EMP()],
  ['Move the employees into staff_members, full name from first and last name', EMP('', { derive: FULL })],
  ['Move the employees into staff_members, full name from first and last name, email lowercased', EMP('', { derive: { ...FULL, email: 'lower(email)' } })],
  ['Move the employees into staff_members with the email lowercased', EMP('', { derive: { email: 'lower(email)' } })],
  ['Move the employees into staff_members with full_name = first_name || \' \' || last_name', EMP('', { derive: FULL })],
  ['Move the employees into staff_members, full name from last and first name', EMP('', { derive: { full_name: "last_name || ' ' || first_name" } })],
  ['Move the active employees into staff_members', EMP('is_active = true')],
  ['Move the employees into staff_members, only the active ones', EMP('is_active = true')],
  ['Move the employees into staff_members, keep only the active ones', EMP('is_active = true')],
  ['Move the inactive employees into staff_members', EMP('is_active = false')],
  ['Move the employees that are not active into staff_members', EMP('is_active = false')],
  ['Move the employees hired since 2024 into staff_members', EMP("hire_date >= '2024-01-01'")],
  ['Move the employees hired before March 2023 into staff_members', EMP("hire_date < '2023-03-01'")],
  ['Move the employees hired in the last 90 days into staff_members', EMP("hire_date >= '2026-03-17'")],
  ['Move the employees hired after 2020 into staff_members', EMP("hire_date >= '2021-01-01'")],
  ['Move employees into staff_members where hire_date >= \'2024-01-01\'', EMP("hire_date >= '2024-01-01'")],
  ['Move the employees with an email into staff_members', EMP('email IS NOT NULL')],
  ['Move the employees without an email into staff_members', EMP('email IS NULL')],
  ['Move employees into staff_members where email is null', EMP('email IS NULL')],
  ["Move employees into staff_members where country = 'Canada'", EMP("country = 'Canada'")],
  ["Move employees into staff_members where country in ('Canada', 'USA')", EMP("country IN ('Canada', 'USA')")],
  ["Move employees into staff_members where title <> 'Supervisor'", EMP("title <> 'Supervisor'")],
  ['Move the employees into staff_members except the Supervisor', EMP("title <> 'Supervisor'")],
  ['Move the employees into staff_members, but not the Supervisor', EMP("title <> 'Supervisor'")],
  ['Move the employees into staff_members where reports_to = 2', EMP('reports_to = 2')],
  ['Move the employees into staff_members who report to 2', EMP('reports_to = 2')],
  ['Move the employees in Canada into staff_members', refuse('"in Canada" names no column', 'Canada')],
  ['Move the employees into staff_members and keep their titles', refuse('an instruction the rules cannot bind', 'keep their titles')],
  ['Move the employees into staffers', refuse('no such target table', 'staffers', 'staff_members')],
  ['Move the employes into staff_members', refuse('no such source table', 'employes', 'employee')],
  ['Move the workers into staff_members', refuse('no such source table', 'workers')],
  ['Move the employees', refuse('no target table named: staff_members is not employees by name', 'employees')],
  ['Move employees, then customers', refuse('employees has no target by name', 'employees')],
  ['Move employees into staff_members, then customers', many(['employee', 'staff_members'], ['customer', 'customers'])],
  ['Move employees into staff_members, then customers, then invoices', many(['employee', 'staff_members'], ['customer', 'customers'], ['invoice', 'invoices'])],
  ['Move customers and invoices', many(['customer', 'customers'], ['invoice', 'invoices'])],
  ['Move invoices and customers', many(['customer', 'customers'], ['invoice', 'invoices'])],
  ['Migrate genres, then tracks', many(['genre', 'genres'], ['track', 'tracks'])],
  ['Move the customers into customers', CUS()],
  ['Move the customers', CUS()],
  ['Migrate customer to customers', CUS()],
  ['Move the active customers', CUS('active = true')],
  ['Move the customers, only the active ones', CUS('active = true')],
  ['Move the customers from Germany', refuse('"from Germany" is not a table', 'Germany')],
  ["Move the customers where country = 'Germany'", CUS("country = 'Germany'")],
  ["Move the customers whose country is 'Brazil'", CUS("country = 'Brazil'")],
  ["Move the customers except those in country 'Norway'", CUS("country <> 'Norway'")],
  ['Move the customers without a company', CUS('company IS NULL')],
  ['Move the customers with a company', CUS('company IS NOT NULL')],
  ['Move the customers with no email', CUS('email IS NULL')],
  ['Move the customers created since 2025', CUS("created_at >= '2025-01-01'")],
  ['Move the customers of support rep 3', CUS('support_rep_id = 3')],
  ['Move the customers of support reps 3 and 4', CUS('support_rep_id IN (3, 4)')],
  ['Move the customers except for support rep 5', CUS('support_rep_id <> 5')],
  ['Move the customers, email lowercased', CUS('', { derive: { email: 'lower(email)' } })],
  ['Move the tracks', TRK()],
  ['Move the tracks into tracks, format from the track\'s media type', refuse('a derivation through the parent the rules cannot bind', 'media type')],
  ['Move the tracks of genre 1', TRK('genre_id = 1')],
  ['Move the tracks of genres 1 and 2', TRK('genre_id IN (1, 2)')],
  ['Move the tracks of genre Rock', TRK('genre_id = 1')],
  ['Move the tracks of the Jazz genre', TRK('genre_id = 2')],
  ['Move the tracks except genre 3', TRK('genre_id <> 3')],
  ['Move the tracks of media type 2', TRK('media_type_id = 2')],
  ['Move the tracks where unit_price > 1', TRK('unit_price > 1')],
  ['Move the tracks with a unit price over 1', TRK('unit_price > 1')],
  ['Move the tracks longer than 340000 milliseconds', TRK('milliseconds > 340000')],
  ['Move the tracks with milliseconds at least 300000', TRK('milliseconds >= 300000')],
  ['Move the tracks without a composer', TRK('composer IS NULL')],
  ['Move the tracks with a composer', TRK('composer IS NOT NULL')],
  ['Move the tracks where composer is not null and genre_id = 1', TRK('composer IS NOT NULL AND genre_id = 1')],
  ['Move the tracks, but map MPEG audio file to mp3', TRK('', { map: { 'MPEG audio file': 'mp3' } })],
  ['Move the invoices', INV()],
  ['Move the invoices since 2024', INV("invoice_date >= '2024-01-01'")],
  ['Move the invoices from before 2024', INV("invoice_date < '2024-01-01'")],
  ['Move the invoices with invoice date before March 2024', INV("invoice_date < '2024-03-01'")],
  ['Move the invoices of the last 90 days', INV("invoice_date >= '2026-03-17'")],
  ['Move the invoices where total > 0', INV('total > 0')],
  ['Move the invoices with a total above 10', INV('total > 10')],
  ['Move the invoices of customer 1', INV('customer_id = 1')],
  ['Move the invoices of customers 1 and 2', INV('customer_id IN (1, 2)')],
  ['Move the invoices, skipping customer 4', INV('customer_id <> 4')],
  ['Move the invoices without a billing country', INV('billing_country IS NULL')],
  ['Move the invoices whose billing country is null', INV('billing_country IS NULL')],
  ['invoice -> invoices, total >= 1', INV('total >= 1')],
  ['Migriere die Mitarbeiter nach staff_members', refuse('Mitarbeiter is not a table name the rules know', 'Mitarbeiter')],
  ['Migriere employee nach staff_members', EMP()],
  ['Migriere employee nach staff_members, nur die aktiven', EMP('is_active = true')],
  ['Migriere die Kunden außer Kunde 4', refuse('Kunden is not a table name the rules know', 'Kunden')],
  ['Migriere invoice nach invoices, außer Kunde 4', refuse('"Kunde" is not a column word the rules know', 'Kunde 4')],
  ['Migriere invoice nach invoices ohne customer 4', INV('customer_id <> 4')],
  ['Migra employee a staff_members', EMP()],
  ['Migra employee a staff_members, solo los activos', EMP('is_active = true')],
  ['Migra los tracks excepto el genre 3', TRK('genre_id <> 3')],
  ['Migra invoice a invoices sin customer 4', INV('customer_id <> 4')],
  ['SELECT * FROM employee WHERE is_active = true INTO staff_members', EMP('is_active = true')],
  ['employee => staff_members where is_active', EMP('is_active = true')],
  ['employee → staff_members where not is_active', EMP('is_active = false')],
];

const PAT = (filter = '', extra = {}) => one('patient', 'patients', filter, extra);
const APP = (filter = '', extra = {}) => one('appointment', 'visits', filter, extra);
const DOC = (filter = '', extra = {}) => one('doctor', 'physicians', filter, extra);

const CLINIC: Array<[string, Expected]> = [
  ['Move the patients', PAT()],
  ['Move patient into patients', PAT()],
  ['Migrate the patient table to the patients table', PAT()],
  ['Move the legacy patients into the new patients table', PAT()],
  ['Move the patients of site 1', PAT('site_id = 1')],
  ['Move the patients of sites 1 and 2', PAT('site_id IN (1, 2)')],
  ['Move the patients of site 1 or 3', PAT('site_id IN (1, 3)')],
  ['Move the patients except site 3', PAT('site_id <> 3')],
  ['Move the patients, excluding sites 2 and 3', PAT('site_id NOT IN (2, 3)')],
  ['Move the patients of site Riverside', PAT('site_id = 2')],
  ["Move the patients of the 'North Clinic' site", PAT('site_id = 1')],
  ['Move the patients of site Southside', refuse('no site is called Southside', 'Southside')],
  ['Move the deceased patients', PAT('deceased = true')],
  ['Move the patients who are not deceased', PAT('deceased = false')],
  ['Move the patients, but not the deceased ones', PAT('deceased = false')],
  ['Move the patients registered since 2024', PAT("registered_on >= '2024-01-01'")],
  ['Move the patients registered before March 2023', PAT("registered_on < '2023-03-01'")],
  ['Move the patients registered in the last 90 days', PAT("registered_on >= '2026-03-17'")],
  ['Move the patients born before 1960', PAT("birth_date < '1960-01-01'")],
  ['Move the patients born since 2000', PAT("birth_date >= '2000-01-01'")],
  ['Move the patients since 2024', refuse('two date columns: which one "since 2024" means', 'since 2024')],
  ['Move the patients without a birth date', PAT('birth_date IS NULL')],
  ['Move the patients with a given name', PAT('given_name IS NOT NULL')],
  ["Move the patients where status = 'active'", PAT("status = 'active'")],
  ["Move the patients whose status is 'archived'", PAT("status = 'archived'")],
  ["Move the patients where status in ('active', 'ACTIVE')", PAT("status IN ('ACTIVE', 'active')")],
  ["Move the patients where status <> 'archived'", PAT("status <> 'archived'")],
  ['Move the patients, only the active ones', refuse('status is text, "active" is a value of it: not read as a boolean', 'active')],
  ['Move the patients, map ACTIVE to active', PAT('', { map: { ACTIVE: 'active' } })],
  ['Move the patients, full name from given and family name', refuse('patients has no full_name column', 'full name')],
  ['Move the patients, first name from given name', PAT('', { derive: { first_name: 'given_name' } })],
  ['Move the patients into patients where site_id = 1 and deceased = false', PAT('deceased = false AND site_id = 1')],
  ['Move the patients into patients where pat_id > 2', PAT('pat_id > 2')],
  ['Move the patients into patients where pat_id between 1 and 3', refuse('"between" is not read', 'between')],
  ['Move the pacients', refuse('no such source table', 'pacients', 'patient')],
  ['Move the clients', refuse('no such source table', 'clients')],
  ['Move the patients into people', refuse('no such target table', 'people')],
  ['Move the appointments into visits', APP()],
  ['Migrate appointment to visits', APP()],
  ['Move the appointments', refuse('no target table named appointments', 'appointments')],
  ['Move the appointments into visits, except the cancelled ones', APP('cancelled = false')],
  ['Move the cancelled appointments into visits', APP('cancelled = true')],
  ['Move the appointments into visits scheduled since 2025', APP("scheduled_at >= '2025-01-01'")],
  ['Move the appointments into visits scheduled before March 2024', APP("scheduled_at < '2024-03-01'")],
  ['Move the appointments into visits of doctor 1', APP('doc_id = 1')],
  ['Move the appointments into visits, skipping doctor 2', APP('doc_id <> 2')],
  ['Move the appointments into visits without a doctor', APP('doc_id IS NULL')],
  ["Move the appointments into visits where state = 'done'", APP("state = 'done'")],
  ["Move the appointments into visits where state not in ('no-show', 'booked')", APP("state NOT IN ('booked', 'no-show')")],
  ['Move the appointments into visits of patients 1 and 2', APP('pat_id IN (1, 2)')],
  ['Move the doctors into physicians', DOC()],
  ['Move doctor to physicians', DOC()],
  ['Move the doctors into physicians except site 2', DOC('site_id <> 2')],
  ["Move the doctors into physicians where specialty = 'cardiology'", DOC("specialty = 'cardiology'")],
  ['Move the doctors into physicians without a specialty', DOC('specialty IS NULL')],
  ['Move sites into locations, then doctors into physicians', many(['site', 'locations'], ['doctor', 'physicians'])],
  ['Move sites into locations, then doctors into physicians, then patients, then appointments into visits', many(['site', 'locations'], ['doctor', 'physicians'], ['patient', 'patients'], ['appointment', 'visits'])],
  ['Move the site table into locations', one('site', 'locations')],
  ['Migriere die Patienten', refuse('Patienten is not a table name the rules know', 'Patienten')],
  ['Migriere patient nach patients', PAT()],
  ['Migriere patient nach patients, außer Standort 3', refuse('"Standort" is not a column word the rules know', 'Standort 3')],
  ['Migriere patient nach patients ohne site 3', PAT('site_id <> 3')],
  ['Migriere patient nach patients, aber nicht die verstorbenen', refuse('"verstorbenen" is not read', 'verstorbenen')],
  ['Migra patient a patients', PAT()],
  ['Migra patient a patients excepto site 3', PAT('site_id <> 3')],
  ['Migra los pacientes', refuse('pacientes is not a table name the rules know', 'pacientes')],
  ['Migra patient a patients sin los fallecidos', refuse('"fallecidos" is not read', 'fallecidos')],
  ['patient->patients site_id=2', PAT('site_id = 2')],
  ['patient → patients; deceased = true', PAT('deceased = true')],
  ['patients where deceased', PAT('deceased = true')],
  ['patients, not deceased', PAT('deceased = false')],
  ['Move the patients but keep the notes', refuse('an instruction the rules cannot bind', 'keep the notes')],
  ['Move the patients, ordered by family name', refuse('an order the rules cannot bind', 'ordered by family name')],
  ['Move the first 100 patients', refuse('a quantity the rules cannot bind', 'first 100')],
  ['Move all patients except the ones at Old Town', refuse('"at Old Town" is not read', 'Old Town')],
];

const tag = (schema: CorpusSchema, list: Array<[string, Expected]>): CorpusCase[] => list.map(([text, expected]) => ({ schema, text, expected }));

export const CORPUS: CorpusCase[] = [...tag('case', CASE), ...tag('music', MUSIC), ...tag('clinic', CLINIC)];
