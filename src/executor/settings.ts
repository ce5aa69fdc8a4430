import { z } from "zod";

/** The executor's settings: the `executor:` section of paddock.yaml (after the seed's OpenCode executor options). */
export const ExecutorSettingsSchema = z.strictObject({
  timeout_seconds: z.number().positive().default(3600).describe("Hard wall-clock cap of one attempt; the whole process tree is ended"),
  inactivity_timeout_seconds: z.number().positive().nullable().default(600).describe("End an attempt that printed nothing for this long (null: never)"),
  max_retries: z.number().int().min(0).default(2).describe("Retries with a stricter instruction when the output has no readable contract"),
  structurer: z.boolean().default(true).describe("On the first unreadable output, ask a model without tools to extract the contract from the narrative"),
  structurer_model: z.string().min(1).optional().describe("Model for the structurer (default: the task's)"),
  structurer_timeout_seconds: z.number().positive().default(180),
  tasks_per_deployment: z.number().int().min(1).optional().describe("Tasks at once per upstream deployment (default: its max_parallel_requests; unbounded without one)"),
});

export type ExecutorSettings = z.output<typeof ExecutorSettingsSchema>;
