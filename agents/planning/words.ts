/** Small text helpers the planner's rules share: tokens, stems, similarity. */

/** Lower-case alphanumeric tokens: "MT-IPR/Sticker" → ["mt", "ipr", "sticker"]. */
export function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length > 0);
}

// 'ment(s)' so that manager ~ management ~ manage meet (all → "manag"): a value carrying
// one form of a word claims every enum value spelled with another.
const SUFFIXES = ['ments', 'ment', 'ings', 'ing', 'ers', 'ors', 'ions', 'ion', 'er', 'or', 'ed', 'es', 's', 'e'];

/**
 * A crude stem, applied until it stops changing, so that designing/designer/design and
 * sectioning/section meet. Stems shorter than 4 letters are not cut further.
 */
export function stem(word: string): string {
  let w = word.toLowerCase();
  for (let i = 0; i < 3; i++) {
    const suffix = SUFFIXES.find((s) => w.endsWith(s) && w.length - s.length >= 4);
    if (!suffix) break;
    w = w.slice(0, w.length - suffix.length);
  }
  return w;
}

export { levenshtein } from '../schema-analysis/names.js';

/** Singular-ish form for matching table names to words: "roles" → "role". */
export function singular(word: string): string {
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (/(ses|xes|ches|shes)$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss') && word.length > 3) return word.slice(0, -1);
  return word;
}
