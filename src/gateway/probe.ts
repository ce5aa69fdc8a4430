/** What a model server says about itself: the kind of server, the models it serves, its context window and slots. */
export interface UpstreamFacts {
  server: "llama.cpp" | "vLLM" | "OpenAI-compatible";
  models: string[];
  context?: number;
  /** Requests it decodes at once (llama.cpp's --parallel). */
  slots?: number;
}

/**
 * Asks an OpenAI-compatible server what it serves (GET /models) and, where it
 * is llama.cpp, its window and slots (GET /props); vLLM names its window in
 * /models. Throws with the server's answer when it does not answer /models.
 */
export async function probeUpstream(apiBase: string, apiKey?: string, timeoutMs = 3000): Promise<UpstreamFacts> {
  const base = apiBase.replace(/\/+$/, "");
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const res = await fetch(`${base}/models`, { headers, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status} from GET ${base}/models`);
  const listed = ((await res.json()) as { data?: Array<{ id?: string; max_model_len?: number }> }).data ?? [];
  const models = listed.map((m) => m.id).filter((id): id is string => typeof id === "string");
  const props = await fetch(`${base.replace(/\/v1$/, "")}/props`, { headers, signal: AbortSignal.timeout(timeoutMs) })
    .then(async (r) => (r.ok ? ((await r.json()) as { default_generation_settings?: { n_ctx?: number }; total_slots?: number }) : undefined))
    .catch(() => undefined);
  if (props?.default_generation_settings) return { server: "llama.cpp", models, context: props.default_generation_settings.n_ctx, slots: props.total_slots };
  const window = listed.find((m) => m.max_model_len)?.max_model_len;
  return window ? { server: "vLLM", models, context: window } : { server: "OpenAI-compatible", models };
}
