import { z } from "zod";
import { FileError, issueProblems, readConfigFile } from "../configfile/index.js";

/** LiteLLM reads secrets as `os.environ/NAME`; so does paddock. */
const secret = z.string().transform((value, ctx) => {
  const name = /^os\.environ\/(\w+)$/.exec(value)?.[1];
  if (!name) return value;
  const resolved = process.env[name];
  if (resolved === undefined) {
    ctx.addIssue({ code: "custom", message: `refers to the environment variable ${name}, which is not set` });
    return z.NEVER;
  }
  return resolved;
});

/** One deployment of a model name: LiteLLM's `model_list` entry. Keys paddock does not use are kept and ignored. */
const DeploymentSchema = z.looseObject({
  model_name: z.string().min(1),
  litellm_params: z.looseObject({
    /** `openai/NAME` (any OpenAI-compatible server: vLLM, llama.cpp, ...) or `anthropic/NAME`. */
    model: z.string().regex(/^(openai|hosted_vllm|anthropic)\/.+$/, "must be openai/NAME (OpenAI-compatible: vLLM, llama.cpp) or anthropic/NAME"),
    api_base: z.url(),
    api_key: secret.optional(),
    /** Requests this deployment serves at once; more wait in a bounded queue (a one-slot llama.cpp server: 1). */
    max_parallel_requests: z.number().int().min(1).optional(),
    timeout: z.number().positive().optional().describe("seconds"),
    rpm: z.number().int().positive().optional(),
    /** LiteLLM's switch for templates without a system role: every system message is sent as a user message. */
    supports_system_message: z.boolean().optional(),
    /** LiteLLM's custom pricing, here or in model_info (this one first, when both are set). */
    input_cost_per_token: z.number().min(0).optional(),
    output_cost_per_token: z.number().min(0).optional(),
    /**
     * System messages after the conversation started (Claude Code sends them), which many chat templates
     * refuse: merged into the first system message (default), sent as user messages, or kept as they are.
     */
    later_system_messages: z.enum(["merge", "user", "keep"]).default("merge"),
  }),
  model_info: z
    .looseObject({
      /** The context window; discovered from the upstream when absent. */
      max_input_tokens: z.number().int().positive().optional(),
      max_output_tokens: z.number().int().positive().optional(),
      input_cost_per_token: z.number().min(0).optional(),
      output_cost_per_token: z.number().min(0).optional(),
    })
    .default({}),
});

export const GatewayConfigSchema = z.looseObject({
  model_list: z.array(DeploymentSchema).min(1, "needs at least one model"),
  litellm_settings: z
    .looseObject({
      request_timeout: z.number().positive().default(600),
      num_retries: z.number().int().min(0).default(2),
      /** [{ "model-a": ["model-b"] }]: when every deployment of model-a fails, try model-b. */
      fallbacks: z.array(z.record(z.string(), z.array(z.string()))).default([]),
    })
    .default({ request_timeout: 600, num_retries: 2, fallbacks: [] }),
  router_settings: z
    .looseObject({
      /** A deployment that failed this many times in a row rests for cooldown_time seconds. */
      allowed_fails: z.number().int().min(1).default(3),
      cooldown_time: z.number().min(0).default(30),
    })
    .default({ allowed_fails: 3, cooldown_time: 30 }),
  general_settings: z
    .looseObject({
      master_key: secret.optional(),
      database_url: secret.nullable().optional(),
    })
    .default({}),
  paddock_settings: z
    .strictObject({
      listen: z.string().regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, "must be HOST:PORT").default("127.0.0.1:4000"),
      /** Tokens kept free between input and output when capping max_tokens. */
      cap_buffer_tokens: z.number().int().min(0).default(256),
      /** Requests waiting for a busy deployment, at most. */
      queue_limit: z.number().int().min(0).default(100),
      max_body_bytes: z.number().int().min(1024).default(16 * 1024 * 1024),
    })
    .default({ listen: "127.0.0.1:4000", cap_buffer_tokens: 256, queue_limit: 100, max_body_bytes: 16 * 1024 * 1024 }),
});

export type GatewayConfig = z.output<typeof GatewayConfigSchema>;
export type DeploymentConfig = z.output<typeof DeploymentSchema>;

/** A gateway config file (LiteLLM's format), every problem located by file, line and field. */
export function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  return readConfigFile(file, GatewayConfigSchema, "gateway_config");
}

export function parseGatewayConfig(raw: unknown, where = "config"): GatewayConfig {
  const parsed = GatewayConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FileError("gateway_config_invalid", issueProblems(where, parsed.error.issues, () => undefined, GatewayConfigSchema));
  }
  return parsed.data;
}
