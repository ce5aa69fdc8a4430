import type { AgentBudget } from "./keys.js";
import type { Gateway } from "./server.js";

/** A model as agents see it: its context window and longest reply, when known. */
export interface ModelLimits {
  model: string;
  context?: number;
  output?: number;
}

/**
 * What the supervisor and the executor need of a gateway: where agents reach
 * it, keys of their own, the models' limits (for the agents' configs), how
 * many tasks a model's upstreams take at once, and what a key has used.
 */
export interface AgentGatewayAccess {
  socket: string;
  /** A key for an agent; with a budget (its card's), every key of that agent counts against it together. */
  mint(agentId: string, models?: string[], budget?: AgentBudget): Promise<string>;
  revoke(agentId: string): Promise<void>;
  /** A key for one task (run) of an agent, and its revocation. */
  mintTask(agentId: string, runId: string, models?: string[], budget?: AgentBudget): Promise<string>;
  revokeKey(key: string): Promise<void>;
  models(): Promise<ModelLimits[]>;
  /** The deployments serving `model` (a pool key naming them) and how many requests they serve at once (Infinity: no limit). */
  slots(model: string): { key: string; size: number } | undefined;
  usage(key: string): Promise<{ requests: number; input_tokens: number; output_tokens: number; cost: number }>;
  /** Why no server of `model` takes connections right now, or undefined if one does (or is only slow). */
  unreachable(model: string): Promise<string | undefined>;
  /** Tells of each request with `key` that no model server answered, as it happens; returns the unsubscribe. */
  watchUpstreamFailures(key: string, listener: (message: string) => void): () => void;
}

/** The access of a gateway running in this process, which agents reach through `socket`. */
export function gatewayAccess(gateway: Gateway, socket: string): AgentGatewayAccess {
  return {
    socket,
    mint: (agentId, models, budget) => gateway.mintAgentKey(agentId, models, budget),
    revoke: (agentId) => gateway.revokeAgentKeys(agentId),
    mintTask: (agentId, runId, models, budget) => gateway.mintTaskKey(agentId, runId, models, budget),
    revokeKey: (key) => gateway.revokeKey(key),
    async models() {
      await gateway.discover();
      return gateway.router.modelNames().map((model) => {
        const deployments = gateway.router.all().filter((d) => d.modelName === model);
        const windows = deployments.map((d) => d.contextWindow).filter((n): n is number => n !== undefined);
        const outputs = deployments.map((d) => d.maxOutput).filter((n): n is number => n !== undefined);
        return { model, context: windows.length ? Math.min(...windows) : undefined, output: outputs.length ? Math.min(...outputs) : undefined };
      });
    },
    slots(model) {
      const deployments = gateway.router.all().filter((d) => d.modelName === model);
      if (deployments.length === 0) return undefined;
      return { key: deployments.map((d) => d.id).sort().join(","), size: deployments.reduce((n, d) => n + d.maxParallel, 0) };
    },
    usage: (key) => gateway.keyUsage(key),
    watchUpstreamFailures: (key, listener) => gateway.watchUpstreamFailures(key, listener),
    unreachable: (model) => gateway.unreachable(model),
  };
}
