import type { DeploymentConfig, GatewayConfig } from "./config.js";
import { GatewayError } from "./errors.js";
import { BUSY_WAIT_MS, UpstreamUnavailable } from "./upstream.js";

const LATENCY_SAMPLES = 200;

/** One model server behind a model name, with its live state. */
export class Deployment {
  readonly id: string;
  readonly modelName: string;
  readonly provider: "openai" | "anthropic";
  /** The model name the upstream knows. */
  readonly upstreamModel: string;
  /** e.g. http://vllm:8000/v1 (no trailing slash). */
  readonly apiBase: string;
  readonly apiKey?: string;
  readonly maxParallel: number;
  /** How system messages reach this deployment's chat template (see `placeSystemMessages`). */
  readonly systemMessages: "merge" | "user" | "keep" | "all-user";
  contextWindow?: number;
  maxOutput?: number;
  inputCost: number;
  outputCost: number;
  /** How this upstream counts tokens, once found out. */
  tokenizer?: "vllm" | "llamacpp" | "none";
  /** Until when its tokenizer is not asked (it timed out): each request would otherwise wait out the timeout. */
  tokenizerPausedUntil?: number;
  inFlight = 0;
  consecutiveFails = 0;
  coolingUntil = 0;
  private readonly waiting: Array<() => void> = [];
  /** The last answered requests' latencies (ms), oldest first, for the status the dashboard shows. */
  private readonly latencies: number[] = [];

  constructor(config: DeploymentConfig, index: number) {
    const [provider, ...name] = config.litellm_params.model.split("/");
    this.id = `${config.model_name}#${index}`;
    this.modelName = config.model_name;
    this.provider = provider === "anthropic" ? "anthropic" : "openai";
    this.upstreamModel = name.join("/");
    this.apiBase = config.litellm_params.api_base.replace(/\/+$/, "");
    this.apiKey = config.litellm_params.api_key && config.litellm_params.api_key !== "none" ? config.litellm_params.api_key : undefined;
    this.maxParallel = config.litellm_params.max_parallel_requests ?? Number.POSITIVE_INFINITY;
    this.systemMessages = config.litellm_params.supports_system_message === false ? "all-user" : config.litellm_params.later_system_messages;
    this.contextWindow = config.model_info.max_input_tokens;
    this.maxOutput = config.model_info.max_output_tokens;
    this.inputCost = config.litellm_params.input_cost_per_token ?? config.model_info.input_cost_per_token ?? 0;
    this.outputCost = config.litellm_params.output_cost_per_token ?? config.model_info.output_cost_per_token ?? 0;
  }

  /** The server's root (vLLM serves /tokenize beside /v1, not under it). */
  get root(): string {
    return this.apiBase.replace(/\/v1$/, "");
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  noteLatency(ms: number): void {
    if (this.latencies.push(ms) > LATENCY_SAMPLES) this.latencies.shift();
  }

  /** Its live state: health, slots in use and waiting, and latency percentiles of its last requests. */
  status(now = Date.now()) {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : null);
    return {
      deployment: this.id,
      model_name: this.modelName,
      api_base: this.apiBase,
      healthy: this.coolingUntil <= now,
      cooling_until: this.coolingUntil > now ? new Date(this.coolingUntil).toISOString() : null,
      consecutive_fails: this.consecutiveFails,
      in_flight: this.inFlight,
      waiting: this.waiting.length,
      max_parallel: Number.isFinite(this.maxParallel) ? this.maxParallel : null,
      context_window: this.contextWindow ?? null,
      latency_p50_ms: at(0.5),
      latency_p95_ms: at(0.95),
      samples: sorted.length,
    };
  }

  /** Waits for a free slot; resolves with the function that frees it. */
  acquire(queueLimit: number): Promise<() => void> {
    const release = () => {
      this.inFlight--;
      this.waiting.shift()?.();
    };
    if (this.inFlight < this.maxParallel) {
      this.inFlight++;
      return Promise.resolve(once(release));
    }
    if (this.waiting.length >= queueLimit) {
      return Promise.reject(new GatewayError(429, "rate_limit_error", `${this.modelName}: all ${this.maxParallel} slots are busy and ${this.waiting.length} requests wait; try again shortly`, null, { "Retry-After": "1" }));
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.inFlight++;
        resolve(once(release));
      }),
    );
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) (done = true), fn();
  };
}

/** What one attempt against a deployment yields: a value, and when the deployment's slot may be freed (a stream's end). */
export interface Attempt<T> {
  value: T;
  finished: Promise<unknown>;
}

/**
 * Picks deployments for a model name: the least busy one that is not cooling
 * down; on connection errors and 5xx, the next one, up to num_retries, then the
 * configured fallback models. A deployment that keeps failing rests.
 */
export class Router {
  readonly deployments = new Map<string, Deployment[]>();
  private readonly fallbacks = new Map<string, string[]>();

  constructor(
    private readonly config: GatewayConfig,
    /** Told of each wait for a busy deployment (for the log). */
    private readonly onBusy?: (model: string, error: UpstreamUnavailable, waitMs: number) => void,
  ) {
    config.model_list.forEach((entry, i) => {
      const list = this.deployments.get(entry.model_name) ?? [];
      list.push(new Deployment(entry, i));
      this.deployments.set(entry.model_name, list);
    });
    for (const rule of config.litellm_settings.fallbacks) for (const [model, to] of Object.entries(rule)) this.fallbacks.set(model, to);
  }

  modelNames(): string[] {
    return [...this.deployments.keys()];
  }

  all(): Deployment[] {
    return [...this.deployments.values()].flat();
  }

  async run<T>(model: string, attempt: (d: Deployment) => Promise<Attempt<T>>): Promise<{ value: T; deployment: Deployment }> {
    if (!this.deployments.has(model)) throw new GatewayError(404, "not_found_error", `model '${model}' is not served here (models: ${this.modelNames().join(", ")})`, "model");
    let lastError: unknown;
    for (const name of [model, ...(this.fallbacks.get(model) ?? [])]) {
      const tried = new Set<Deployment>();
      let busyRounds = 0;
      for (let i = 0; i <= this.config.litellm_settings.num_retries; i++) {
        let deployment = this.pick(name, tried);
        // Every deployment tried and the last one only busy (a 503: loading its model, overloaded): ask it again after a
        // wait, twice as long each round (a model loading on a busy host takes seconds), within the longest wait.
        if (!deployment && lastError instanceof UpstreamUnavailable && lastError.retryAfterMs !== undefined) {
          const wait = Math.min(lastError.retryAfterMs * 2 ** busyRounds++, BUSY_WAIT_MS.max);
          this.onBusy?.(name, lastError, wait);
          await new Promise((resolve) => setTimeout(resolve, wait));
          tried.clear();
          deployment = this.pick(name, tried);
        }
        if (!deployment) break;
        tried.add(deployment);
        const release = await deployment.acquire(this.config.paddock_settings.queue_limit);
        try {
          const result = await attempt(deployment);
          deployment.consecutiveFails = 0;
          void result.finished.finally(release);
          return { value: result.value, deployment };
        } catch (err) {
          release();
          if (!(err instanceof UpstreamUnavailable)) throw err;
          lastError = err;
          if (++deployment.consecutiveFails >= this.config.router_settings.allowed_fails) {
            deployment.coolingUntil = Date.now() + this.config.router_settings.cooldown_time * 1000;
          }
        }
      }
    }
    const timedOut = lastError instanceof UpstreamUnavailable && lastError.timedOut;
    throw new GatewayError(timedOut ? 504 : 502, timedOut ? "timeout_error" : "api_error", `no deployment of '${model}' answered: ${(lastError as Error | undefined)?.message ?? "all are cooling down after failures"}`, null, { "Retry-After": "5" });
  }

  private pick(model: string, tried: Set<Deployment>): Deployment | undefined {
    const now = Date.now();
    const candidates = (this.deployments.get(model) ?? []).filter((d) => !tried.has(d));
    const rested = candidates.filter((d) => d.coolingUntil <= now);
    // When every deployment is cooling down, the one that rests least is tried rather than failing outright.
    const pool = rested.length > 0 ? rested : candidates.sort((a, b) => a.coolingUntil - b.coolingUntil).slice(0, 1);
    return pool.sort((a, b) => a.inFlight + a.waitingCount - (b.inFlight + b.waitingCount))[0];
  }
}
