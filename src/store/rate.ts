/** One key's calls in its sliding minute, as every gateway on the store sees them. */
export interface RateQuery {
  token_hash: string;
  now_ms: number;
  window_ms: number;
  rpm_limit: number | null;
  tpm_limit: number | null;
}

export type RateDecision = { admitted: true; call_id: string } | { admitted: false; limit: "rpm" | "tpm"; used: number; retry_ms: number };

/** The window's calls (their number, tokens, and the oldest's time) against the key's limits. */
export function rateDecision(query: RateQuery, window: { calls: number; tokens: number; oldest: number | null }, callId: string): RateDecision {
  const retry = (window.oldest ?? query.now_ms) + query.window_ms - query.now_ms;
  if (query.rpm_limit !== null && window.calls >= query.rpm_limit) return { admitted: false, limit: "rpm", used: window.calls, retry_ms: retry };
  if (query.tpm_limit !== null && window.tokens >= query.tpm_limit) return { admitted: false, limit: "tpm", used: window.tokens, retry_ms: retry };
  return { admitted: true, call_id: callId };
}

export const RATE_SQL = {
  prune: (p: (i: number) => string) => `DELETE FROM gateway_calls WHERE token_hash = ${p(1)} AND at_ms <= ${p(2)}`,
  window: (p: (i: number) => string) => `SELECT COUNT(*) AS calls, COALESCE(SUM(tokens), 0) AS tokens, MIN(at_ms) AS oldest FROM gateway_calls WHERE token_hash = ${p(1)}`,
  insert: (p: (i: number) => string) => `INSERT INTO gateway_calls (call_id, token_hash, at_ms, tokens) VALUES (${p(1)}, ${p(2)}, ${p(3)}, 0)`,
  charge: (p: (i: number) => string) => `UPDATE gateway_calls SET tokens = ${p(1)} WHERE call_id = ${p(2)}`,
};
