/** Recorded in the plan's generator; bump when the proposal schema or the merge rules change. */
export const CLAUDE_PLANNER_VERSION = 'claude-planner-2';
/** The prompt template in prompts/ this planner sends. */
export const PLANNING_PROMPT = 'planning.v1';
