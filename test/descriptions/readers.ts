import { parseIntent, parseMultiIntent } from '../../agents/planning/index.js';
import type { TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import type { Reader } from './evaluate.js';

const name = (t: TableInfo) => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`);

/** The rules reader as it was before issue 15 (parseIntent / parseMultiIntent): the untuned baseline. */
export const baselineReader: Reader = async ({ text, analysis }) => {
  const intents = parseMultiIntent(text, analysis) ?? [parseIntent(text, analysis)];
  return {
    kind: 'reading',
    tables: intents.map((i) => [name(i.source), name(i.target)] as [string, string]),
    filters: intents.flatMap((i) => i.filters),
    derive: {},
    map: {},
    flagged: [],
  };
};
