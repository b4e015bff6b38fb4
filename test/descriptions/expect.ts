import type { CorpusCase, Expected, ExpectedReading, ExpectedRefusal } from './corpus.js';
import type { CorpusSchema } from './schemas.js';

/** The corpus files' shorthands for an expected reading or refusal, shared by corpus.ts and corpus-languages.ts. */
export const one = (source: string, target: string, filter = '', extra: { derive?: Record<string, string>; map?: Record<string, string> } = {}): ExpectedReading => ({
  kind: 'reading',
  tables: [[source, target]],
  filter,
  ...extra,
});
export const many = (...tables: Array<[string, string]>): ExpectedReading => ({ kind: 'reading', tables, filter: '' });
export const refuse = (why: string, ...says: string[]): ExpectedRefusal => ({ kind: 'refuse', why, says });
export const tag = (schema: CorpusSchema, list: Array<[string, Expected]>): CorpusCase[] => list.map(([text, expected]) => ({ schema, text, expected }));

/** One move per table pair of the four schemas, with an optional filter and instructions. */
type Move = (filter?: string, extra?: { derive?: Record<string, string>; map?: Record<string, string> }) => ExpectedReading;
const move = (source: string, target: string): Move => (filter = '', extra = {}) => one(source, target, filter, extra);
export const ROLES = move('dispatch_role', 'technician_roles');
export const EMP = move('employee', 'staff_members');
export const CUS = move('customer', 'customers');
export const TRK = move('track', 'tracks');
export const INV = move('invoice', 'invoices');
export const PAT = move('patient', 'patients');
export const APP = move('appointment', 'visits');
export const DOC = move('doctor', 'physicians');
