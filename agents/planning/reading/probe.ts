/**
 * The two facts the reader looks up in the source beyond the analysis: which parent row a
 * label names ("group Technicians" → dispatch_group 11), and which text columns hold a value
 * ("except the Supervisor" → name). Implemented over pg in src/db/reading-probe.ts.
 */
export interface ReadingProbe {
  /** Rows of `table` whose `labelColumn` equals `label` (case-insensitive, trimmed), with their key. */
  rowsLabelled(input: { schema: string; table: string; keyColumn: string; labelColumn: string; label: string }): Promise<Array<{ key: string; label: string }>>;
  /** The first rows' labels, to name what exists when a label is not found. */
  someLabels(input: { schema: string; table: string; labelColumn: string; limit: number }): Promise<string[]>;
  /** Of `columns`, those holding `value` exactly in some row. */
  columnsHolding(input: { schema: string; table: string; columns: string[]; value: string }): Promise<string[]>;
}
