import { describeSpan } from '../../src/core/artifacts/description-reading.js';
import type { TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import type { Reader } from './evaluate.js';
import { readDescription } from '../../agents/planning/reading/index.js';
import { createReadingProbe } from '../../src/db/reading-probe.js';

const name = (t: TableInfo) => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`);

/** The rules reader of issue 15 (agents/planning/reading): the reading's intents and what it flagged. */
export const rulesReader: Reader = async ({ text, analysis, source, now }) => {
  const { reading, intents } = await readDescription({ description: text, analysis, probe: createReadingProbe(source), now });
  const derive: Record<string, string> = {};
  const map: Record<string, string> = {};
  const flagged: string[] = [];
  for (const s of reading.spans) {
    if (s.binding.kind === 'derivation') derive[s.binding.column] = s.binding.expression;
    if (s.binding.kind === 'value_override') map[s.binding.source] = s.binding.target;
    if (s.binding.kind === 'unread') flagged.push(`"${s.text}" (${s.binding.why})`);
  }
  return { kind: 'reading', tables: intents.map((i) => [name(i.source), name(i.target)] as [string, string]), filters: intents.flatMap((i) => i.filters), derive, map, flagged, spans: reading.spans.map(describeSpan) };
};
