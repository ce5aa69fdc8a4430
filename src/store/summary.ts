import { PROMPT_HEAD, type EgressSummaryQuery, RUN_SUMMARY_FIELDS, type RunSummaryQuery, type UsageGroup, type UsagePage, type UsagePageQuery, type UsageRecord, type UsageSummaryQuery } from "./records.js";

/** What each grouping sums by; a key is shown by its alias, else its masked name (never its hash alone, if it still exists). */
const GROUP_BY: Record<UsageGroup, string> = {
  agent: "u.agent_id",
  key: "COALESCE(k.key_alias, k.key_name, u.token_hash)",
  key_hash: "u.token_hash",
  model: "u.model",
  day: "substr(u.time, 1, 10)",
  hour: "substr(u.time, 1, 13)",
};

/** A WHERE clause over usage rows and its values, with `param(n)` making the n-th placeholder ("?" or "$n"). */
function where(q: { since?: string; until?: string; tokenHash?: string; agentId?: string; model?: string }, param: (n: number) => string): { sql: string; values: unknown[] } {
  const values: unknown[] = [q.since ?? ""];
  const parts = [`u.time >= ${param(1)}`];
  for (const [value, column] of [[q.until, "u.time <"], [q.tokenHash, "u.token_hash ="], [q.agentId, "u.agent_id ="], [q.model, "u.model ="]] as const) {
    if (value === undefined) continue;
    values.push(value);
    parts.push(`${column} ${param(values.length)}`);
  }
  return { sql: `WHERE ${parts.join(" AND ")}`, values };
}

/** The summary query both stores run (SQLite and PostgreSQL speak the same SQL here). */
export function usageSummarySql(query: UsageSummaryQuery, param: (n: number) => string): { sql: string; values: unknown[] } {
  const groups = [GROUP_BY[query.by], ...(query.within ? [GROUP_BY[query.within]] : [])];
  const filter = where(query, param);
  const sql = `SELECT ${groups[0]} AS "group", ${query.within ? `${groups[1]} AS subgroup, ` : ""}COUNT(*) AS requests, SUM(u.input_tokens) AS input_tokens, SUM(u.output_tokens) AS output_tokens, SUM(u.cost) AS cost,
    SUM(CASE WHEN u.status = 429 THEN 1 ELSE 0 END) AS rate_limited
    FROM gateway_usage u LEFT JOIN gateway_keys k ON k.token_hash = u.token_hash
    ${filter.sql} GROUP BY ${groups.join(", ")} ORDER BY ${groups.join(", ")}`;
  return { sql, values: filter.values };
}

/** A page's rows as `Store.usage` gives them: oldest first, without the row ids. */
export function oldestFirst(page: UsagePage): UsageRecord[] {
  return page.rows.map(({ id: _, ...row }) => row).reverse();
}

/** A page of usage rows, newest first, and the count of all that match. */
export function usagePageSql(query: UsagePageQuery, columns: readonly string[], param: (n: number) => string): { page: string; count: string; values: unknown[] } {
  const filter = where(query, param);
  return {
    page: `SELECT u.id, ${columns.map((c) => `u.${c}`).join(", ")} FROM gateway_usage u ${filter.sql} ORDER BY u.id DESC LIMIT ${Math.floor(query.limit)} OFFSET ${Math.floor(query.offset)}`,
    count: `SELECT COUNT(*) AS total FROM gateway_usage u ${filter.sql}`,
    values: filter.values,
  };
}

/**
 * The run list's query for both stores, over the summaries saved beside the records: `field(name)` reads a field of
 * the summary's JSON (SQLite's json_extract, PostgreSQL's ->>).
 */
export function runSummarySql(query: RunSummaryQuery, param: (n: number) => string, field: (name: string) => string): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const parts: string[] = [];
  const add = (sql: (p: string) => string, value: unknown) => (values.push(value), parts.push(sql(param(values.length))));
  if (query.agentId) add((p) => `agent_id = ${p}`, query.agentId);
  if (query.since) add((p) => `created_at >= ${p}`, query.since);
  if (query.outcome) add((p) => `COALESCE(${field("outcome")}, ${field("state")}) = ${p}`, query.outcome);
  if (query.candidates) parts.push(`${field("candidate")} IS NOT NULL`);
  return { sql: `SELECT summary FROM runs ${parts.length ? `WHERE ${parts.join(" AND ")}` : ""} ORDER BY created_at DESC LIMIT ${Math.floor(query.limit)}`, values };
}

/**
 * The migration that gives every run a summary column, filled for the runs saved before it (as `runSummaryOf` makes
 * them), and an index for the newest-first list: `object` builds a JSON object; `value`, `text` and `count` read a
 * field of the record as JSON, as text, and an array field's length.
 */
export function runSummaryMigration(type: string, object: string, read: { value: (name: string) => string; text: (name: string) => string; count: (name: string) => string }): string {
  const pairs = [...RUN_SUMMARY_FIELDS.map((f) => `'${f}', ${read.value(f)}`), `'prompt', substr(${read.text("prompt")}, 1, ${PROMPT_HEAD})`, `'changed_files', ${read.count("changed_files")}`];
  return `ALTER TABLE runs ADD COLUMN summary ${type};
   UPDATE runs SET summary = ${object}(${pairs.join(", ")});
   CREATE INDEX runs_created ON runs (created_at);`;
}

/**
 * Egress decisions counted per group, for both stores: `bucket(seconds)` is the store's expression for the start
 * of a row's time bucket in Unix seconds.
 */
export function egressSummarySql(query: EgressSummaryQuery, param: (n: number) => string, bucket: (seconds: number) => string): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const parts: string[] = [];
  const add = (sql: (p: string) => string, value: unknown) => (values.push(value), parts.push(sql(param(values.length))));
  if (query.agentId) add((p) => `agent_id = ${p}`, query.agentId);
  if (query.decision) add((p) => `decision = ${p}`, query.decision);
  if (query.since) add((p) => `time >= ${p}`, query.since);
  const seconds = Math.max(1, Math.floor(query.bucketSeconds ?? 60));
  const columns = query.by.map((g) => (g === "bucket" ? `${bucket(seconds)} AS bucket` : g));
  const groups = query.by.map((g) => (g === "bucket" ? bucket(seconds) : g));
  const order = query.top ? `requests DESC LIMIT ${Math.floor(query.top)}` : groups.join(", ");
  return {
    sql: `SELECT ${[...columns, "COUNT(*) AS requests", "SUM(bytes_down) AS bytes_down", "MAX(time) AS last", "MAX(rule) AS rule", "MAX(address) AS address"].join(", ")}
      FROM egress_audit ${parts.length ? `WHERE ${parts.join(" AND ")}` : ""} ${groups.length ? `GROUP BY ${groups.join(", ")}` : ""} ORDER BY ${order || "requests DESC"}`,
    values,
  };
}
