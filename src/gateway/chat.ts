import type { Readable } from "node:stream";
import type { GatewayConfig } from "./config.js";
import { GatewayError } from "./errors.js";
import type { Deployment, Router } from "./router.js";
import { auth, countChatInput, discoverWindow, inputUpperBound, outputRoom, parseContextError, type ChatInput, type Count } from "./tokens.js";
import { readJson, requestUpstream, serverError, unavailable } from "./upstream.js";

/** A call that reached a deployment: a successful body to read or stream, or the upstream's own error. */
export interface ChatResponse {
  deployment: Deployment;
  status: number;
  /** Set when status is 200. */
  body?: Readable;
  /** The upstream's error body, when status is not 200. */
  error?: unknown;
  input: Count;
  /** max_tokens as the client sent it, and as paddock sent it on. */
  requested?: number;
  sent?: number;
}

export interface ChatDeps {
  router: Router;
  config: GatewayConfig;
  log: (fields: Record<string, unknown>) => void;
}

/**
 * Sends an OpenAI chat request to a deployment of its model, with max_tokens
 * fitted into the context window: counted exactly where the upstream can
 * count, lowered to window − input − buffer, and recomputed once from the
 * numbers in a context-length error if the upstream still refuses.
 */
export async function sendChat(deps: ChatDeps, body: Record<string, unknown> & ChatInput, signal: AbortSignal): Promise<ChatResponse> {
  const { router, config } = deps;
  const buffer = config.paddock_settings.cap_buffer_tokens;
  const timeoutMs = config.litellm_settings.request_timeout * 1000;
  const field = body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
  const requested = typeof body[field] === "number" ? (body[field] as number) : undefined;
  const { value } = await router.run(String(body.model), async (d) => {
    if (d.provider !== "openai") throw new GatewayError(400, "invalid_request_error", `model '${d.modelName}' is served by an Anthropic upstream: call it through /v1/messages`, "model");
    d.contextWindow ??= await discoverWindow(d);
    const upstreamBody: Record<string, unknown> = { ...body, model: d.upstreamModel, ...(Array.isArray(body.messages) ? { messages: placeSystemMessages(body.messages as ChatMessage[], d.systemMessages) } : {}) };
    // Ask for usage in the stream whatever the client asked, so every stream is billed.
    if (body.stream) upstreamBody.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
    // Count exactly only when the cap could apply: most requests fit with room to spare.
    const bound = inputUpperBound(upstreamBody as unknown as ChatInput);
    const fits = d.contextWindow === undefined || (requested === undefined && d.maxOutput === undefined) || bound + (requested ?? d.maxOutput!) + buffer <= d.contextWindow;
    const input: Count = fits ? { tokens: 0, method: "bound" } : await countChatInput(d, upstreamBody as unknown as ChatInput);
    // A reply never asks for more than the model's max_output_tokens, whether or not the window needed counting.
    const room = fits ? d.maxOutput : outputRoom(d, input.tokens, buffer);
    if (room !== undefined && (requested === undefined || requested > room)) upstreamBody[field] = room;
    const url = new URL(`${d.apiBase}/chat/completions`);
    let res = await requestUpstream(url, "POST", upstreamBody, auth(d), timeoutMs, signal);
    if (res.status === 400) {
      const error = await readJson(res).catch(() => undefined);
      const limits = parseContextError(error);
      if (!limits) return settled({ deployment: d, status: 400, error, input, requested, sent: upstreamBody[field] as number | undefined });
      // The upstream counted differently: trust its numbers, retry once.
      d.contextWindow = limits.window;
      const retryRoom = outputRoom(d, limits.input, buffer)!;
      deps.log({ level: "warn", msg: "context length error; retrying with the upstream's numbers", deployment: d.id, window: limits.window, input: limits.input, counted: input.tokens, max_tokens: retryRoom });
      upstreamBody[field] = retryRoom;
      res = await requestUpstream(url, "POST", upstreamBody, auth(d), timeoutMs, signal);
    }
    if (unavailable(res.status)) throw await serverError(d.id, res);
    const sent = upstreamBody[field] as number | undefined;
    if (res.status !== 200) return settled({ deployment: d, status: res.status, error: await readJson(res).catch(() => undefined), input, requested, sent });
    const finished = new Promise((resolve) => res.body.once("close", resolve));
    return { value: { deployment: d, status: 200, body: res.body, input, requested, sent }, finished };
  });
  return value;
}

function settled(value: ChatResponse) {
  return { value, finished: Promise.resolve() };
}

/** An upstream error passed on in OpenAI's format, keeping its status and message. */
export function upstreamError(response: ChatResponse): GatewayError {
  const body = response.error as { message?: string; error?: { message?: string }; type?: string } | undefined;
  const message = body?.message ?? body?.error?.message ?? `the upstream answered ${response.status}`;
  const limits = parseContextError(body);
  if (limits) return new GatewayError(400, "context_length_exceeded", message, "messages");
  const type = response.status === 404 ? "not_found_error" : response.status === 429 ? "rate_limit_error" : response.status === 401 || response.status === 403 ? "api_error" : "invalid_request_error";
  return new GatewayError(response.status === 401 || response.status === 403 ? 502 : response.status, type, message);
}

export interface Usage {
  input: number;
  output: number;
}

/** Reads OpenAI-style usage ({prompt_tokens, completion_tokens}). */
export function usageOf(value: unknown): Usage | undefined {
  const usage = (value as { usage?: { prompt_tokens?: number; completion_tokens?: number } } | undefined)?.usage;
  return usage && typeof usage.prompt_tokens === "number" ? { input: usage.prompt_tokens, output: usage.completion_tokens ?? 0 } : undefined;
}

/** Splits an SSE byte stream into events' data payloads. */
export async function* sseData(body: Readable): AsyncGenerator<string> {
  let buffered = "";
  try {
    for await (const chunk of body) {
      buffered += (chunk as Buffer).toString("utf8");
      let end: number;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = event
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (data) yield data;
      }
    }
  } catch (err) {
    // The server went away mid-answer (killed, out of memory, a dropped connection): the client is told so in its stream.
    throw new GatewayError(502, "api_error", `the model server ended the stream before the answer was complete (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

type ChatMessage = Record<string, unknown> & { role?: unknown; content?: unknown };

/**
 * Most chat templates (vLLM's, llama.cpp's with --jinja) take one system
 * message, first. `merge` appends each later one to it (making one if there is
 * none); `user` sends later ones as user messages; `all-user` (LiteLLM's
 * supports_system_message: false) sends every one as a user message; `keep`
 * changes nothing.
 */
export function placeSystemMessages(messages: ChatMessage[], mode: Deployment["systemMessages"]): ChatMessage[] {
  if (mode === "keep") return messages;
  const leading = messages.findIndex((m) => m.role !== "system");
  const firstTurn = leading === -1 ? messages.length : leading;
  const asUser = (m: ChatMessage): ChatMessage => ({ ...m, role: "user" });
  if (mode === "all-user") return messages.map((m) => (m.role === "system" ? asUser(m) : m));
  const later = messages.slice(firstTurn).filter((m) => m.role === "system");
  if (later.length === 0) return messages;
  if (mode === "user") return messages.map((m, i) => (i >= firstTurn && m.role === "system" ? asUser(m) : m));
  const system = [...messages.slice(0, firstTurn), ...later].map((m) => textOf(m.content)).filter(Boolean).join("\n\n");
  return [{ role: "system", content: system }, ...messages.slice(firstTurn).filter((m) => m.role !== "system")];
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "object" && part && "text" in part ? String((part as { text: unknown }).text) : "")).join("");
  return "";
}
