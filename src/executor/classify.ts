/** Why an agent's run failed, as far as its output tells; the first four cannot be fixed by asking again. */
export type FailureCategory = "Network" | "Auth" | "Config" | "Path" | "Model" | "RateLimit";

export const FATAL_CATEGORIES: readonly FailureCategory[] = ["Network", "Auth", "Config", "Path"];

export interface Diagnosis {
  category: FailureCategory;
  /** What happened, as a sentence for people; the raw line is the evidence. */
  sentence: string;
  /** The line of output that gave it away. */
  evidence: string;
  hint: string;
  fatal: boolean;
}

/** Signatures of each category in the output of OpenCode, Claude Code, the AI SDK, and the gateway's error bodies; first match wins, in this order. */
const SIGNATURES: Array<{ category: FailureCategory; sentence: string; pattern: RegExp; hint: string }> = [
  { category: "Auth", sentence: "the gateway refused the agent's key", pattern: /(?:status|HTTP|code)\D{0,10}401\b|401 Unauthorized|authentication_error|invalid api key|invalid x-api-key|unauthori[sz]ed|missing api key|key (?:is )?(?:blocked|expired)/i, hint: "the gateway refused the agent's key: check general_settings.master_key and that the key was not revoked or expired" },
  { category: "RateLimit", sentence: "a rate limit or budget stopped the agent's requests", pattern: /(?:status|HTTP|code)\D{0,10}429\b|rate.?limit|too many requests|budget_exceeded|budget has been exceeded|overloaded/i, hint: "the key's rpm/tpm limit or budget was reached, or the upstream is overloaded: wait, or raise the key's limits" },
  { category: "Model", sentence: "the agent asked for a model the gateway does not serve to it", pattern: /model[^\n]{0,80}(?:does not exist|not found|is not available|not allowed)|no model|ProviderModelNotFound|model_not_found|key may not call/i, hint: "the model is not served by the gateway (or not allowed for this key): check the card's model against `model_list`" },
  { category: "Config", sentence: "the agent rejected its configuration", pattern: /ConfigInvalidError|Invalid configuration|config(?:uration)? (?:is )?invalid|ProviderInitError|Unrecognized key|JSON Parse error[^\n]*config/i, hint: "the agent's configuration was rejected: check the card (paddock card validate) and the agent version paddock pins" },
  { category: "Path", sentence: "a path or a program the agent needed was not found", pattern: /(?:status|HTTP|code)\D{0,10}404\b|no route (?:GET|POST)|bwrap: execvp|error while loading shared libraries|exec format error/i, hint: "a path is wrong: the gateway URL's path (OpenAI clients need /v1), or a program or file missing in the sandbox (add it to the card's tools)" },
  { category: "Network", sentence: "the agent could not reach the model server", pattern: /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|Unable to connect|fetch failed|socket hang up|could not resolve host|connection refused|network is unreachable|(?:status|HTTP|code)\D{0,10}50[234]\b|50[234] (?:Bad Gateway|Service Unavailable|Gateway Timeout)|upstream[^\n]{0,40}(?:unavailable|unreachable|down)/i, hint: "the model server is unreachable: check that it runs and that the gateway's api_base points at it (`paddock doctor`)" },
];

/** Looks for a failure's signature in the agent's stderr (and stdout, which some agents use for errors). */
export function diagnose(output: string): Diagnosis | undefined {
  const lines = output.split("\n");
  for (const signature of SIGNATURES) {
    const evidence = lines.find((line) => signature.pattern.test(line));
    if (evidence) return { category: signature.category, sentence: signature.sentence, evidence: evidence.trim().slice(0, 500), hint: signature.hint, fatal: FATAL_CATEGORIES.includes(signature.category) };
  }
  return undefined;
}

/** The hint of a category, for a failure paddock saw itself rather than in the agent's output. */
export function hintFor(category: FailureCategory): string {
  return SIGNATURES.find((s) => s.category === category)?.hint ?? "";
}
