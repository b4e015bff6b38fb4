export { EXAMPLE_DESCRIPTION, type MigrationIntent } from './intent.js';
export { buildPlan, PLANNER_VERSION, type PlanInput } from './plan.js';
export { applyOverrides, approvePlan, type PlanOverrides } from './review.js';
export type { PlanProbe } from './probe.js';
export { linkParents, orderByDependencies } from './plan-set.js';
