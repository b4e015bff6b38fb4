/** The description cut into tokens with their offsets, and the word lists the reader shares. */

export type TokenKind = 'word' | 'number' | 'string' | 'op' | 'punct';
export interface Token {
  text: string;
  /** Lower case; for a quoted string, its contents (case kept in `value`). */
  lower: string;
  /** A quoted string's contents; a word's or number's text. */
  value: string;
  start: number;
  end: number;
  kind: TokenKind;
}

const TOKEN = /'(?:[^']|'')*'|"[^"]*"|\d+(?:\.\d+)?(?![\p{L}_])|[\p{L}_][\p{L}\p{N}_$]*(?:[.-][\p{L}\p{N}_$]+)*(?:['’][ts](?!\p{L}))?|->|=>|→|<>|!=|<=|>=|\|\||[=<>]|[(),;.?!:]|\S/gu;

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(TOKEN)) {
    const raw = m[0];
    const start = m.index;
    let kind: TokenKind;
    let value = raw;
    if (raw.length >= 2 && (raw.startsWith("'") || raw.startsWith('"'))) {
      kind = 'string';
      value = raw.startsWith("'") ? raw.slice(1, -1).replace(/''/g, "'") : raw.slice(1, -1);
    } else if (/^\d/.test(raw)) kind = 'number';
    else if (/^[\p{L}_]/u.test(raw)) {
      kind = 'word';
      // A possessive is its word ("the office's city" names office); "don't" stays whole.
      if (/['’]s$/u.test(raw)) value = raw.slice(0, -2);
    }
    else if (/^[(),;.?!:]$/.test(raw)) kind = 'punct';
    else kind = 'op';
    out.push({ text: raw, lower: kind === 'string' || kind === 'word' ? value.toLowerCase() : raw.toLowerCase(), value, start, end: start + raw.length, kind });
  }
  return out;
}

/** Words that carry no choice on their own. Negations, quantities and instructions are never here. */
export const FILLER = new Set([
  // moving, asking, politeness
  'migrate', 'move', 'copy', 'transfer', 'load', 'bring', 'port', 'please', 'could', 'can', 'would', 'you', 'i', 'we', 'want', 'like', 'need', 'let', 's', 'us',
  // articles, pronouns, plain prepositions and conjunctions
  'the', 'a', 'an', 'all', 'of', 'for', 'in', 'on', 'to', 'into', 'from', 'and', 'then', 'also',
  'rows', 'row', 'records', 'record', 'entries', 'data', 'table', 'tables', 'database', 'db', 'ones', 'one', 'those', 'that', 'which', 'who', 'are', 'is', 'be', 'were', 'their', 'its', 'only', 'just', 'anything', 'any', 'ones',
  'every', 'each', 'everyone', 'everything', 'old', 'new', 'legacy', 'existing', 'current', 'source', 'target', 'select', 'insert', 'over',
  // German
  'migriere', 'migrieren', 'übertrage', 'übertragen', 'kopiere', 'kopieren', 'verschiebe', 'verschieben', 'bitte', 'die', 'der', 'das', 'den', 'dem', 'des', 'alle', 'von', 'aus', 'nach', 'in', 'für', 'und', 'dann', 'nur', 'lediglich', 'tabelle', 'tabellen', 'einträge', 'zeilen', 'datensätze',
  'alte', 'alten', 'alter', 'altes', 'neue', 'neuen', 'neuer', 'neues', 'bestehende', 'bestehenden',
  // Spanish
  'migra', 'migrar', 'mueve', 'mover', 'copia', 'copiar', 'transfiere', 'transferir', 'por', 'favor', 'el', 'la', 'los', 'las', 'del', 'de', 'a', 'al', 'en', 'hacia', 'y', 'e', 'luego', 'todos', 'todas', 'solo', 'sólo', 'solamente', 'únicamente', 'que', 'tabla', 'tablas', 'filas', 'registros',
  'antigua', 'antiguo', 'antiguas', 'antiguos', 'vieja', 'viejo', 'nueva', 'nuevo', 'nuevas', 'nuevos',
]);

/** Words (in their languages) that turn what follows into an exclusion. */
export const NEGATIONS = new Set([
  'except', 'excluding', 'exclude', 'not', "don't", "doesn't", 'without', 'skipping', 'skip', 'minus', 'other', 'but', 'no',
  'unless', 'außer', 'ausser', 'ohne', 'nicht', 'kein', 'keine', 'ausgenommen',
  'excepto', 'exceptuando', 'excepción', 'salvo', 'sin', 'menos', 'excluyendo', 'pero',
]);

/** Negations of several words, read as one: "bis auf Gruppe 10", "leave out group 10", "don't include site 3". */
export const NEGATION_PHRASES: string[][] = [['bis', 'auf'], ['leave', 'out'], ['leaving', 'out'], ['left', 'out'], ["don't", 'include'], ['do', 'not', 'include'], ['not', 'including']];

/** Words after what they exclude: "returned ones excluded", "Gruppe 10 ausgenommen". */
export const TRAILING_NEGATIONS = new Set(['excluded', 'excepted', 'ausgenommen', 'ausgeschlossen', 'excluidos', 'excluidas', 'excluido', 'excluida', 'exceptuados']);

/** Column words in other languages, to the English word the schemas use. */
export const FOREIGN_WORDS: Record<string, string> = {
  gruppe: 'group', gruppen: 'group', grupo: 'group', grupos: 'group',
  aktiv: 'active', aktive: 'active', aktiven: 'active', activo: 'active', activos: 'active', activa: 'active', activas: 'active',
  oder: 'or', o: 'or', u: 'or', und: 'and', y: 'and', e: 'and', '&': 'and',
};

export const english = (w: string): string => FOREIGN_WORDS[w] ?? w;

/** Verbs that start a description: the word after them (and fillers) is what is moved. */
export const MOVE_VERBS = new Set(['migrate', 'move', 'copy', 'transfer', 'load', 'bring', 'port', 'migriere', 'übertrage', 'kopiere', 'verschiebe', 'migra', 'mueve', 'copia', 'transfiere', 'migrar', 'mover']);

/** Words that say the tables' order ("then", "erst … dann", "primero … luego"): an order span when several tables are named. */
export const ORDER_WORDS = new Set(['then', 'first', 'dann', 'danach', 'erst', 'zuerst', 'anschließend', 'luego', 'después', 'primero', 'entonces']);
