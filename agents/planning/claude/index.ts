export { CLAUDE_PLANNER_VERSION, PLANNING_PROMPT } from './version.js';
export { proposePlan, MAX_REPAIRS, type ProposeResult } from './propose.js';
export { mergeProposal } from './merge.js';
export { groundColumns, groundTables } from './ground.js';
export { groundReading, predicateConditions, type GroundedReading } from './reading.js';
export { ColumnsProposal, COLUMNS_TOOL, INTENT_TOOL, IntentProposal, ProposalBinding, TOOLS, type PlanProposal } from './proposal.js';
export { DATA_CLOSE, DATA_OPEN, focusMessage, planningUserMessage } from './context.js';
