import type { Store, UsagePage, UsageSummary } from "../store/index.js";
import { GatewayError } from "./errors.js";
import { hashKey } from "./keys.js";

/**
 * LiteLLM's spend read endpoints over paddock's usage rows, in LiteLLM's
 * field names (its LiteLLM_SpendLogs table), for the tooling users point at it:
 * `/spend/logs/v2` (the current, paginated one) and `/global/spend/report`
 * grouped by api_key (a premium feature in LiteLLM).
 */
export async function spendLogs(store: Store, query: URLSearchParams): Promise<unknown> {
  const page = integer(query, "page", 1, 1, Infinity);
  const pageSize = integer(query, "page_size", 50, 1, 1000);
  const apiKey = query.get("api_key");
  const range = dateRange(query, false);
  const result: UsagePage = await store.usagePage({ ...range, tokenHash: apiKey ? tokenHash(apiKey) : undefined, model: query.get("model") ?? undefined, offset: (page - 1) * pageSize, limit: pageSize });
  return {
    data: result.rows.map((r) => ({
      request_id: `paddock-usage-${r.id}`,
      call_type: "acompletion",
      api_key: r.token_hash ?? "",
      spend: r.cost,
      total_tokens: r.input_tokens + r.output_tokens,
      prompt_tokens: r.input_tokens,
      completion_tokens: r.output_tokens,
      startTime: new Date(Date.parse(r.time) - r.latency_ms).toISOString(),
      endTime: r.time,
      request_duration_ms: Math.round(r.latency_ms),
      model: r.model,
      model_id: r.deployment,
      model_group: r.model,
      agent_id: r.agent_id,
      status: r.status === 200 ? "success" : "failure",
      metadata: { status_code: r.status, max_tokens_capped: r.capped, stream: r.stream },
    })),
    total: result.total,
    page,
    page_size: pageSize,
    total_pages: Math.ceil(result.total / pageSize),
  };
}

export async function globalSpendReport(store: Store, query: URLSearchParams): Promise<unknown> {
  const groupBy = query.get("group_by") ?? "api_key";
  if (groupBy !== "api_key") throw new GatewayError(400, "invalid_request_error", `group_by=${groupBy}: paddock reports by api_key only (its usage rows carry no team or customer)`, "group_by");
  const apiKey = query.get("api_key");
  const rows: UsageSummary[] = await store.usageSummary({ by: "key_hash", within: "model", ...dateRange(query, true), tokenHash: apiKey ? tokenHash(apiKey) : undefined });
  const byKey = new Map<string, UsageSummary[]>();
  for (const row of rows) byKey.set(row.group ?? "", [...(byKey.get(row.group ?? "") ?? []), row]);
  const sum = (list: UsageSummary[], field: "cost" | "input_tokens" | "output_tokens") => list.reduce((n, r) => n + r[field], 0);
  return [...byKey]
    .map(([key, models]) => ({
      api_key: key,
      total_cost: sum(models, "cost"),
      total_input_tokens: sum(models, "input_tokens"),
      total_output_tokens: sum(models, "output_tokens"),
      model_details: models.map((m) => ({ model: m.subgroup, total_cost: m.cost, total_input_tokens: m.input_tokens, total_output_tokens: m.output_tokens })),
    }))
    .sort((a, b) => b.total_cost - a.total_cost);
}

function tokenHash(apiKey: string): string {
  return apiKey.startsWith("sk-") ? hashKey(apiKey) : apiKey;
}

/**
 * start_date and end_date as LiteLLM takes them ("YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", UTC), as [since, until):
 * a date alone as end_date takes in that whole day.
 */
function dateRange(query: URLSearchParams, required: boolean): { since?: string; until?: string } {
  const start = query.get("start_date");
  const end = query.get("end_date");
  if (required && (!start || !end)) throw new GatewayError(400, "invalid_request_error", "Please provide start_date and end_date", start ? "end_date" : "start_date");
  const since = start ? time(start, "start_date") : undefined;
  const until = end ? (/^\d{4}-\d{2}-\d{2}$/.test(end) ? new Date(Date.parse(time(end, "end_date")) + 86_400_000).toISOString() : time(end, "end_date")) : undefined;
  return { ...(since ? { since } : {}), ...(until ? { until } : {}) };
}

function time(value: string, field: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}:\d{2}))?$/.exec(value.trim());
  const parsed = match ? Date.parse(`${match[1]}T${match[2] ?? "00:00:00"}Z`) : NaN;
  if (Number.isNaN(parsed)) throw new GatewayError(400, "invalid_request_error", `${field} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (UTC), not '${value}'`, field);
  return new Date(parsed).toISOString();
}

function integer(query: URLSearchParams, field: string, fallback: number, min: number, max: number): number {
  const raw = query.get(field);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new GatewayError(400, "invalid_request_error", `${field} must be a whole number from ${min}${Number.isFinite(max) ? ` to ${max}` : ""}`, field);
  return n;
}
