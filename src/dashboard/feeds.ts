import { cardBudget, type Card } from "../card/index.js";
import { durationMs, type Gateway } from "../gateway/index.js";
import { FINAL_STATES, type EgressRecord, type Store } from "../store/index.js";
import type { Supervisor } from "../supervisor/index.js";

/** What the dashboard reads: the daemon's own parts, never copies of their state. */
export interface Feeds {
  supervisor: Supervisor;
  store: Store;
  gateway?: Gateway;
}

const HOUR = 3_600_000;

/**
 * The allowlist entry that would have let a denied request through: its host (with the port unless it is
 * HTTP's or HTTPS's), or for a refused private address the address itself, the only way to allow one.
 */
export function allowingRule(record: Pick<EgressRecord, "host" | "port" | "reason" | "address">): string | null {
  if (record.reason === "blocked_address") return record.address ?? record.host;
  if (record.reason !== "not_allowed") return null;
  return record.port === 443 || record.port === 80 ? record.host : `${record.host}:${record.port}`;
}

/** An agent's requests grouped by decision, where they went and why: the denied ones first, the latest first. */
export async function agentEgress(store: Store, agentId: string) {
  const groups = await store.egressSummary({ by: ["decision", "host", "port", "reason"], agentId });
  return groups
    .map((g) => ({ ...g, allow_with: g.decision === "denied" ? allowingRule({ host: g.host!, port: g.port!, reason: g.reason!, address: g.address }) : null }))
    .sort((a, b) => (a.decision === b.decision ? b.last.localeCompare(a.last) : a.decision === "denied" ? -1 : 1));
}

/** Allowed and denied requests per time bucket (about 120 over the span), and each agent's five most denied hosts. */
export async function egressOverview(store: Store, sinceMs: number, now = Date.now()) {
  const since = new Date(now - sinceMs).toISOString();
  const bucketSeconds = Math.max(60, Math.ceil(sinceMs / 120 / 60_000) * 60);
  const [counts, denied] = await Promise.all([store.egressSummary({ by: ["bucket", "decision"], since, bucketSeconds }), store.egressSummary({ by: ["agent_id", "host"], decision: "denied", since })]);
  const start = Math.floor((now - sinceMs) / 1000 / bucketSeconds) * bucketSeconds;
  const times = Array.from({ length: Math.floor((now / 1000 - start) / bucketSeconds) + 1 }, (_, i) => start + i * bucketSeconds);
  const at = (decision: string) => {
    const values = new Array<number>(times.length).fill(0);
    for (const c of counts) if (c.decision === decision) values[Math.min(times.length - 1, Math.max(0, Math.round((c.bucket! - start) / bucketSeconds)))]! += c.requests;
    return values;
  };
  const byAgent = new Map<string, Array<{ host: string; count: number }>>();
  for (const d of denied) byAgent.set(d.agent_id!, [...(byAgent.get(d.agent_id!) ?? []), { host: d.host!, count: d.requests }]);
  return {
    since,
    bucket_seconds: bucketSeconds,
    times,
    allowed: at("allowed"),
    denied: at("denied"),
    top_denied: [...byAgent].map(([agent_id, hosts]) => ({ agent_id, hosts: hosts.sort((a, b) => b.count - a.count).slice(0, 5) })),
    records: counts.reduce((n, c) => n + c.requests, 0),
  };
}

/** Tokens and cost per hour and model, per agent, key and model; budgets of keys and agent cards, and what is left. */
export async function usageOverview(feeds: Feeds, sinceMs: number, now = Date.now()) {
  const { store } = feeds;
  const since = new Date(now - sinceMs).toISOString();
  const [hourly, byAgent, byKey, byModel, keys, agents] = await Promise.all([
    store.usageSummary({ by: "hour", within: "model", since }),
    store.usageSummary({ by: "agent", since }),
    store.usageSummary({ by: "key", since }),
    store.usageSummary({ by: "model", since }),
    store.listKeys(),
    feeds.supervisor.list(),
  ]);
  const agentBudgets = await Promise.all(
    // The budgets of the agents that can still spend: a finished agent's card no longer applies.
    agents.flatMap((agent) => {
      const budget = FINAL_STATES.includes(agent.state) ? undefined : cardBudget(agent.card as unknown as Card);
      if (!budget) return [];
      const windowStart = budget.budget_duration ? new Date(now - durationMs(budget.budget_duration)).toISOString() : undefined;
      return [
        store.usageSummary({ by: "agent", agentId: agent.agent_id, since: windowStart }).then(([used]) => ({
          agent_id: agent.agent_id,
          max_tokens_budget: budget.max_tokens_budget,
          budget_duration: budget.budget_duration ?? null,
          tokens_used: used ? used.input_tokens + used.output_tokens : 0,
        })),
      ];
    }),
  );
  return {
    since,
    hourly: hourly.map((h) => ({ hour: h.group, model: h.subgroup, tokens: h.input_tokens + h.output_tokens, cost: h.cost, requests: h.requests, rate_limited: h.rate_limited })),
    by_agent: byAgent,
    by_key: byKey,
    by_model: byModel,
    key_budgets: keys
      .filter((k) => k.max_budget !== null || k.max_tokens_budget !== null)
      .map((k) => ({ key: k.key_alias ?? k.key_name, max_budget: k.max_budget, spend: k.spend, max_tokens_budget: k.max_tokens_budget, tokens_used: k.tokens_used, budget_duration: k.budget_duration, budget_reset_at: k.budget_reset_at })),
    agent_budgets: agentBudgets,
  };
}

/** One agent's tokens per hour over the last week. */
export async function agentUsage(store: Store, agentId: string, now = Date.now()) {
  const rows = await store.usageSummary({ by: "hour", agentId, since: new Date(now - 7 * 24 * HOUR).toISOString() });
  return rows.map((r) => ({ hour: r.group, input_tokens: r.input_tokens, output_tokens: r.output_tokens, requests: r.requests }));
}
