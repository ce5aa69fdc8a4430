import { randomBytes } from "node:crypto";
import { z } from "zod";
import { PaddockError } from "../errors/index.js";
import { gatewayChat, type AgentGatewayAccess } from "../gateway/index.js";

const subtask = { title: z.string().min(1).describe("A few words"), prompt: z.string().min(1).describe("The complete instruction for one coding agent") };

/** The captain's plan: subtasks that one worker each can do alone, each in a role of paddock.yaml's when there are roles. */
export const PlanSchema = z.strictObject({
  subtasks: z
    .array(z.strictObject({ ...subtask, role: z.string().nullable().optional().describe("The role of paddock.yaml that does it (null: the captain's own card)") }))
    .min(1)
    .max(20),
});

export type Plan = z.infer<typeof PlanSchema>;

/** The schema the model must follow: with roles, each subtask names one of them (or null). */
function planSchemaFor(roles: PlannerRole[]) {
  if (roles.length === 0) return z.strictObject({ subtasks: z.array(z.strictObject(subtask)).min(1).max(20) });
  const names = roles.map((r) => r.name) as [string, ...string[]];
  return z.strictObject({ subtasks: z.array(z.strictObject({ ...subtask, role: z.enum(names).nullable().describe("Who does it: one of the roles, or null for a general coding agent") })).min(1).max(20) });
}

/** A role the planner may give subtasks, with what it is for. */
export interface PlannerRole {
  name: string;
  description?: string;
}

const INSTRUCTION = (workers: number, roles: PlannerRole[]) =>
  `You are the captain of ${workers} coding agents. Each works alone in its own sandbox on the same repository and cannot talk to the others. Split the user's task into at most ${workers} independent subtasks (fewer if the task is small), so that each can be done and checked on its own. Each prompt must be complete: the agent sees nothing but it.${
    roles.length
      ? ` Give each subtask the role best suited to it, or null when none fits:\n${roles.map((r) => `- ${r.name}${r.description ? `: ${r.description}` : ""}`).join("\n")}\nAnswer only with JSON: {"subtasks": [{"title": "...", "prompt": "...", "role": "..."}]}`
      : ` Answer only with JSON: {"subtasks": [{"title": "...", "prompt": "..."}]}`
  }`;

/** Asks a model, through the gateway with a key of its own, to split a task; the reply must follow PlanSchema (JSON Schema structured output). */
export async function planTask(options: { gateway: AgentGatewayAccess; task: string; workers: number; model?: string; roles?: PlannerRole[]; timeoutMs?: number }): Promise<Plan> {
  if (!options.task.trim()) throw new PaddockError("plan_invalid", "the task is empty", "task");
  if (!Number.isInteger(options.workers) || options.workers < 1) throw new PaddockError("plan_invalid", "workers must be a whole number of at least 1", "workers");
  const models = await options.gateway.models();
  const model = options.model ?? models[0]?.model;
  if (!model || !models.some((m) => m.model === model)) throw new PaddockError("model_unknown", `the gateway serves no model '${model}'`, "model", `use one of ${models.map((m) => m.model).join(", ")}`);
  const roles = options.roles ?? [];
  const schema = planSchemaFor(roles);
  const key = await options.gateway.mintTask("captain", `plan-${randomBytes(4).toString("hex")}`, [model]);
  try {
    const reply = await gatewayChat({
      socket: options.gateway.socket,
      key,
      timeoutMs: options.timeoutMs ?? 300_000,
      body: {
        model,
        temperature: 0,
        response_format: { type: "json_schema", json_schema: { name: "plan", strict: true, schema: z.toJSONSchema(schema) } },
        messages: [
          { role: "system", content: INSTRUCTION(options.workers, roles) },
          { role: "user", content: options.task },
        ],
      },
    });
    const parsed = schema.safeParse(parseJson(reply));
    if (!parsed.success) {
      throw new PaddockError("plan_invalid", `the model's plan does not follow the schema: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "plan", "a model that ignores structured output may need another model (--model)");
    }
    return parsed.data;
  } finally {
    await options.gateway.revokeKey(key).catch(() => undefined);
  }
}

/** The reply as JSON: the whole text, else its first fenced block. */
function parseJson(reply: string): unknown {
  for (const candidate of [reply.trim(), /```(?:json)?\s*\n([\s\S]*?)```/.exec(reply)?.[1]]) {
    if (!candidate) continue;
    try {
      return JSON.parse(candidate);
    } catch {
      // next candidate
    }
  }
  return undefined;
}
