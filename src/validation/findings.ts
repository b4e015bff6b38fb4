import type { ValidationReport } from '../core/artifacts/validation-report.js';

const MAX_PROBLEMS = 25;

/** Offending rows by legacy key: the first few kept, the rest counted. */
export class Problems {
  list: Array<{ legacyKey: string | null; message: string }> = [];
  more = 0;
  add(legacyKey: string | null, message: string) {
    if (this.list.length < MAX_PROBLEMS) this.list.push({ legacyKey, message });
    else this.more += 1;
  }
  get count() {
    return this.list.length + this.more;
  }
}

export type Orphan = NonNullable<ValidationReport['orphans']>[number];

/** What comparing every migrated row with its source row found, however it was compared. */
export interface RowFindings {
  sourceRows: number;
  mappings: number;
  migrated: number;
  /** Source rows without a live mapping (none, or one pointing at no row). */
  missing: Problems;
  /** Mappings whose legacy row is not under the plan's filter (any more). */
  orphanMappings: Problems;
  /** Per column that differs from what the plan derives. */
  content: Problems;
  /** Rows with at least one content difference. */
  contentRows: number;
  fk: Problems;
  orphans: Orphan[];
  refsChecked: number;
}
