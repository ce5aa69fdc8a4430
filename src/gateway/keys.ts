import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { KeyRecord, Store } from "../store/index.js";
import { GatewayError } from "./errors.js";

/** Who is calling: the operator (master key) or a virtual key. */
export type Caller = { kind: "master" } | { kind: "key"; key: KeyRecord; /** Its place in the key's rate window (a key with rpm or tpm). */ callId?: string };

/** LiteLLM's /key/generate and /key/update bodies. */
/** A span as LiteLLM writes one: 30s, 15m, 24h, 30d. */
const Duration = z.string().regex(/^\d+[smhd]$/, "must look like 30s, 15m, 24h or 30d");

export const KeyFieldsSchema = z.looseObject({
  models: z.array(z.string()).optional(),
  max_budget: z.number().min(0).nullable().optional(),
  rpm_limit: z.number().int().min(1).nullable().optional(),
  tpm_limit: z.number().int().min(1).nullable().optional(),
  duration: Duration.nullable().optional(),
  budget_duration: Duration.nullable().optional(),
  max_tokens_budget: z.number().int().min(1).nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  user_id: z.string().nullable().optional(),
  team_id: z.string().nullable().optional(),
  key_alias: z.string().nullable().optional(),
  blocked: z.boolean().optional(),
});

export type KeyFields = z.output<typeof KeyFieldsSchema>;

/**
 * An agent's token budget, from its card, carried in the metadata of every key
 * minted for it: counted over all its keys' usage rows (its restarts' and
 * tasks' alike) in the last budget_duration, or ever.
 */
export const AgentBudgetSchema = z.object({
  max_tokens_budget: z.number().int().min(1),
  budget_duration: Duration.optional(),
});

export type AgentBudget = z.output<typeof AgentBudgetSchema>;

const CACHE_MS = 5_000;
const WINDOW_MS = 60_000;

export function hashKey(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Virtual keys: generated, stored as SHA-256 only, looked up through a short
 * cache (a key changed on another replica is seen within seconds), and checked
 * before every call: expiry, blocking, model access, USD and token budgets (per
 * budget_duration window, when it has one), and rpm/tpm over a sliding minute.
 */
export class KeyService {
  private readonly cache = new Map<string, { key: KeyRecord | undefined; at: number }>();
  private readonly charging = new Set<Promise<void>>();
  private readonly master?: Buffer;

  constructor(
    private readonly store: Store,
    masterKey: string | undefined,
    private readonly log: (fields: Record<string, unknown>) => void,
    /** Usage this gateway has billed and not yet stored. */
    private readonly unstored: (match: { tokenHash?: string; agentId?: string }) => { tokens: number; cost: number },
  ) {
    this.master = masterKey ? Buffer.from(hashKey(masterKey), "hex") : undefined;
  }

  /** Reads `Authorization: Bearer` or Anthropic's `x-api-key`. */
  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<Caller> {
    const bearer = /^Bearer\s+(.+)$/i.exec(String(headers.authorization ?? ""))?.[1]?.trim();
    const token = bearer ?? (typeof headers["x-api-key"] === "string" ? headers["x-api-key"] : undefined);
    if (!this.master) return { kind: "master" };
    if (!token) throw new GatewayError(401, "authentication_error", "missing API key: send Authorization: Bearer <key> (or x-api-key)");
    const hash = hashKey(token);
    if (timingSafeEqual(Buffer.from(hash, "hex"), this.master)) return { kind: "master" };
    const key = await this.lookup(hash);
    if (!key) throw new GatewayError(401, "authentication_error", "invalid API key");
    if (key.blocked) throw new GatewayError(401, "authentication_error", "this API key is blocked");
    if (key.expires && Date.parse(key.expires) <= Date.now()) throw new GatewayError(401, "authentication_error", `this API key expired at ${key.expires}`);
    if (key.budget_duration && key.budget_reset_at && Date.parse(key.budget_reset_at) <= Date.now()) await this.startWindow(key);
    return { kind: "key", key };
  }

  /**
   * Model access, budget and rate limits, before any call upstream. Budgets are read from the store and calls are
   * counted there, so every replica of the gateway on one store holds a key to the same limits.
   */
  async admit(caller: Caller, model: string): Promise<void> {
    if (caller.kind === "master") return;
    if (caller.key.max_budget !== null || caller.key.max_tokens_budget !== null) {
      // The spend every replica has stored, and this one's not yet stored.
      const stored = (await this.store.keyByHash(caller.key.token_hash)) ?? caller.key;
      const own = this.unstored({ tokenHash: caller.key.token_hash });
      caller.key = { ...stored, spend: stored.spend + own.cost, tokens_used: stored.tokens_used + own.tokens };
    }
    const { key } = caller;
    if (key.models.length > 0 && !key.models.includes(model)) {
      throw new GatewayError(403, "permission_error", `this key may not call '${model}' (it may call: ${key.models.join(", ")})`, "model");
    }
    const resets = key.budget_reset_at ? ` (the budget resets at ${key.budget_reset_at})` : "";
    if (key.max_budget !== null && key.spend >= key.max_budget) {
      throw new GatewayError(400, "budget_exceeded", `Budget has been exceeded! Current cost: ${key.spend}, Max budget: ${key.max_budget}${resets}`);
    }
    if (key.max_tokens_budget !== null && key.tokens_used >= key.max_tokens_budget) {
      throw new GatewayError(400, "budget_exceeded", `Token budget has been exceeded! Tokens used: ${key.tokens_used}, Max tokens: ${key.max_tokens_budget}${resets}`);
    }
    if (key.rpm_limit === null && key.tpm_limit === null) return;
    const decision = await this.store.admitCall({ token_hash: key.token_hash, now_ms: Date.now(), window_ms: WINDOW_MS, rpm_limit: key.rpm_limit, tpm_limit: key.tpm_limit });
    if (!decision.admitted) {
      throw rateLimited(decision.limit === "rpm" ? `rpm_limit ${key.rpm_limit} reached` : `tpm_limit ${key.tpm_limit} reached (${decision.used} tokens in the last minute)`, decision.retry_ms);
    }
    caller.callId = decision.call_id;
  }

  /** The agent's own budget (from its card), over every key minted for it; read from the usage rows, so it holds across restarts. */
  async admitAgent(caller: Caller): Promise<void> {
    const budget = caller.kind === "key" ? agentBudgetOf(caller.key) : undefined;
    if (!budget) return;
    const { agentId, max_tokens_budget, budget_duration } = budget;
    const since = budget_duration ? new Date(Date.now() - durationMs(budget_duration)).toISOString() : undefined;
    const [row] = await this.store.usageSummary({ by: "agent", agentId, since });
    const used = (row ? row.input_tokens + row.output_tokens : 0) + this.unstored({ agentId }).tokens;
    if (used >= max_tokens_budget) {
      const window = budget_duration ? ` in the last ${budget_duration}` : "";
      throw new GatewayError(400, "budget_exceeded", `Token budget of agent ${agentId} has been exceeded! Tokens used${window}: ${used}, Max tokens: ${max_tokens_budget} (max_tokens_budget in its card)`);
    }
  }

  /** Counts a finished call's tokens against its key's tokens-per-minute, in the store (its spend goes with its usage row). */
  charge(caller: Caller, tokens: number): void {
    if (caller.kind !== "key") return;
    if (caller.callId && tokens > 0) {
      const charged = this.store
        .chargeCall(caller.callId, tokens)
        .catch((err: Error) => this.log({ level: "error", msg: "a call's tokens were not counted against its key's tpm", error: err.message }))
        .finally(() => this.charging.delete(charged));
      this.charging.add(charged);
    }
  }

  /** Resolves once every call's tokens are in the store (or their failure logged). */
  async flush(): Promise<void> {
    await Promise.all([...this.charging]);
  }

  async generate(fields: KeyFields & { key?: string }): Promise<{ key: string; record: KeyRecord }> {
    const token = fields.key ?? `sk-${randomBytes(24).toString("base64url")}`;
    const record: KeyRecord = {
      token_hash: hashKey(token),
      key_name: `${token.slice(0, 5)}...${token.slice(-4)}`,
      key_alias: fields.key_alias ?? null,
      models: fields.models ?? [],
      max_budget: fields.max_budget ?? null,
      spend: 0,
      rpm_limit: fields.rpm_limit ?? null,
      tpm_limit: fields.tpm_limit ?? null,
      expires: fields.duration ? later(fields.duration) : null,
      metadata: fields.metadata ?? {},
      user_id: fields.user_id ?? null,
      team_id: fields.team_id ?? null,
      created_at: new Date().toISOString(),
      blocked: fields.blocked ?? false,
      budget_duration: fields.budget_duration ?? null,
      budget_reset_at: fields.budget_duration ? later(fields.budget_duration) : null,
      max_tokens_budget: fields.max_tokens_budget ?? null,
      tokens_used: 0,
    };
    await this.store.insertKey(record);
    return { key: token, record };
  }

  async update(token: string, fields: KeyFields): Promise<KeyRecord> {
    const hash = token.startsWith("sk-") ? hashKey(token) : token;
    const { duration, ...rest } = fields;
    const patch = {
      ...rest,
      ...(duration !== undefined ? { expires: duration ? later(duration) : null } : {}),
      // A new window length starts a new window from now.
      ...(rest.budget_duration !== undefined ? { budget_reset_at: rest.budget_duration ? later(rest.budget_duration) : null } : {}),
    };
    const updated = await this.store.updateKey(hash, patch);
    if (!updated) throw new GatewayError(404, "not_found_error", "no such key");
    this.cache.delete(hash);
    return updated;
  }

  async delete(tokens: string[]): Promise<string[]> {
    const hashes = tokens.map((t) => (t.startsWith("sk-") ? hashKey(t) : t));
    for (const h of hashes) this.cache.delete(h);
    return this.store.deleteKeys(hashes);
  }

  async info(token: string): Promise<KeyRecord> {
    const key = await this.lookup(token.startsWith("sk-") ? hashKey(token) : token, true);
    if (!key) throw new GatewayError(404, "not_found_error", "no such key");
    return key;
  }

  /** A key's budget window is over: its spend and tokens start again from 0 until the next reset. */
  private async startWindow(key: KeyRecord): Promise<void> {
    const patch = { spend: 0, tokens_used: 0, budget_reset_at: later(key.budget_duration!) };
    await this.store.updateKey(key.token_hash, patch);
    Object.assign(key, patch);
  }

  list(): Promise<KeyRecord[]> {
    return this.store.listKeys();
  }

  private async lookup(hash: string, fresh = false): Promise<KeyRecord | undefined> {
    const hit = this.cache.get(hash);
    if (!fresh && hit && Date.now() - hit.at < CACHE_MS) return hit.key;
    const key = await this.store.keyByHash(hash);
    this.cache.set(hash, { key, at: Date.now() });
    return key;
  }
}


function rateLimited(message: string, retryMs: number): GatewayError {
  return new GatewayError(429, "rate_limit_error", `rate limit: ${message}`, null, { "Retry-After": String(Math.max(1, Math.ceil(retryMs / 1000))) });
}

function agentBudgetOf(key: KeyRecord): (AgentBudget & { agentId: string }) | undefined {
  // Most keys carry none: no parsing on their requests.
  if (key.metadata.agent_budget === undefined) return undefined;
  const parsed = AgentBudgetSchema.safeParse(key.metadata.agent_budget);
  return parsed.success && typeof key.metadata.agent_id === "string" ? { ...parsed.data, agentId: key.metadata.agent_id } : undefined;
}

function later(duration: string): string {
  return new Date(Date.now() + durationMs(duration)).toISOString();
}

export function durationMs(duration: string): number {
  const n = Number(duration.slice(0, -1));
  return n * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[duration.slice(-1) as "s" | "m" | "h" | "d"];
}
