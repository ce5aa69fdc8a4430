import { cardBudget, type Card } from "../card/index.js";
import { durationMs, type Gateway } from "../gateway/index.js";
import type { EgressRecord, Store } from "../store/index.js";
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

/** Denied requests grouped by where they went (most recent first), then the allowed ones, of one agent. */
export async function agentEgress(store: Store, agentId: string) {
  const records = await store.egressLog({ agentId, limit: 5000 });
  const groups = new Map<string, { host: string; port: number; decision: string; reason: string; rule: string | null; allow_with: string | null; count: number; last: string; bytes_down: number }>();
  for (const r of records) {
    const key = `${r.decision} ${r.host}:${r.port} ${r.reason}`;
    const group = groups.get(key) ?? { host: r.host, port: r.port, decision: r.decision, reason: r.reason, rule: r.rule, allow_with: r.decision === "denied" ? allowingRule(r) : null, count: 0, last: r.time, bytes_down: 0 };
    group.count++;
    group.bytes_down += r.bytes_down;
    if (r.time > group.last) group.last = r.time;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => (a.decision === b.decision ? b.last.localeCompare(a.last) : a.decision === "denied" ? -1 : 1));
}

/** Allowed and denied requests per time bucket, and each agent's most denied hosts. */
export async function egressOverview(store: Store, sinceMs: number, now = Date.now()) {
  const since = new Date(now - sinceMs).toISOString();
  const records = await store.egressLog({ since, limit: 50_000 });
  const bucketMs = Math.max(60_000, Math.ceil(sinceMs / 120 / 60_000) * 60_000);
  const start = Math.floor((now - sinceMs) / bucketMs) * bucketMs;
  const buckets = Math.ceil((now - start) / bucketMs);
  const times = Array.from({ length: buckets }, (_, i) => (start + i * bucketMs) / 1000);
  const allowed = new Array<number>(buckets).fill(0);
  const denied = new Array<number>(buckets).fill(0);
  const deniedHosts = new Map<string, Map<string, number>>();
  for (const r of records) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((Date.parse(r.time) - start) / bucketMs)));
    if (r.decision === "allowed") allowed[i]!++;
    else {
      denied[i]!++;
      const hosts = deniedHosts.get(r.agent_id) ?? new Map<string, number>();
      hosts.set(r.host, (hosts.get(r.host) ?? 0) + 1);
      deniedHosts.set(r.agent_id, hosts);
    }
  }
  const topDenied = [...deniedHosts].map(([agent_id, hosts]) => ({
    agent_id,
    hosts: [...hosts].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([host, count]) => ({ host, count })),
  }));
  return { since, bucket_seconds: bucketMs / 1000, times, allowed, denied, top_denied: topDenied, records: records.length };
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
    agents.flatMap((agent) => {
      const budget = cardBudget(agent.card as unknown as Card);
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
