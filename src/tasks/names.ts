// The names of the tasks, for the config schema (src/config/schema.ts); each is a folder beside
// this file, registered in registry.ts (a test checks the two agree).
export const TASK_NAMES = ["classify", "hierarchical", "token_classify", "extractive_qa", "sft", "dpo", "reward", "grpo"] as const;
export type TaskName = (typeof TASK_NAMES)[number];
