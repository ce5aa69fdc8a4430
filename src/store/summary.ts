import type { UsageSummaryQuery } from "./records.js";

/** What each grouping sums by; a key is shown by its alias, else its masked name (never its hash alone, if it still exists). */
const GROUP_BY: Record<UsageSummaryQuery["by"], string> = {
  agent: "u.agent_id",
  key: "COALESCE(k.key_alias, k.key_name, u.token_hash)",
  model: "u.model",
  day: "substr(u.time, 1, 10)",
};

/**
 * The one summary query both stores run (SQLite and PostgreSQL speak the same
 * SQL here), with `param` standing for the since-time placeholder.
 */
export function usageSummarySql(query: UsageSummaryQuery, param: string): string {
  const group = GROUP_BY[query.by];
  return `SELECT ${group} AS "group", COUNT(*) AS requests, SUM(u.input_tokens) AS input_tokens, SUM(u.output_tokens) AS output_tokens, SUM(u.cost) AS cost
    FROM gateway_usage u LEFT JOIN gateway_keys k ON k.token_hash = u.token_hash
    WHERE u.time >= ${param} GROUP BY ${group} ORDER BY ${group}`;
}
