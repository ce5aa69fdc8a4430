import { GatewayError } from "./errors.js";
import type { Deployment } from "./router.js";
import { readJson, requestUpstream, UpstreamUnavailable } from "./upstream.js";

/** How input was counted; "bound": not counted, because even an upper bound fits. */
export type CountMethod = "upstream" | "bundled" | "estimate" | "bound";

export interface Count {
  tokens: number;
  method: CountMethod;
}

/** What a chat request's input is made of, in OpenAI's shape. */
export interface ChatInput {
  messages: Array<Record<string, unknown>>;
  tools?: unknown[];
}

/**
 * Counts a chat request's input as exactly as the upstream allows: its own
 * tokenizer endpoint with the chat template applied (vLLM's /tokenize,
 * llama.cpp's /apply-template + /tokenize), else a bundled tokenizer with a
 * margin for another family's vocabulary, else a conservative estimate.
 */
export async function countChatInput(d: Deployment, input: ChatInput): Promise<Count> {
  const upstream = await countWithUpstream(d, input);
  if (upstream !== undefined) return { tokens: upstream, method: "upstream" };
  const text = flatten(input);
  const bundled = await bundledCount(text);
  if (bundled !== undefined) return { tokens: Math.ceil(bundled * BUNDLED_MARGIN) + 4 * input.messages.length + 3, method: "bundled" };
  return { tokens: estimate(text) + 4 * input.messages.length + 3, method: "estimate" };
}

export async function countPrompt(d: Deployment, prompt: string): Promise<Count> {
  if (d.tokenizer !== "none" && !tokenizerPaused(d)) {
    const n = await pauseIfSlow(d, tokenizeVllm(d, { prompt }));
    if (n !== undefined) return { tokens: n, method: "upstream" };
  }
  const bundled = await bundledCount(prompt);
  return bundled !== undefined ? { tokens: Math.ceil(bundled * BUNDLED_MARGIN), method: "bundled" } : { tokens: estimate(prompt), method: "estimate" };
}

/** Another family's tokenizer can differ by a tenth or so; the cap errs on the side of fitting. */
const BUNDLED_MARGIN = 1.15;
const TOKENIZE_TIMEOUT_MS = 5_000;
/** How long a tokenizer that timed out is left alone; requests meanwhile count with the bundled one. */
const SLOW_TOKENIZER_PAUSE_MS = 60_000;

function tokenizerPaused(d: Deployment): boolean {
  return (d.tokenizerPausedUntil ?? 0) > Date.now();
}

/** A tokenizer call's count, or undefined when it failed; one that timed out pauses the deployment's tokenizer. */
async function pauseIfSlow<T>(d: Deployment, call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof UpstreamUnavailable && err.timedOut) d.tokenizerPausedUntil = Date.now() + SLOW_TOKENIZER_PAUSE_MS;
    return undefined;
  }
}

async function countWithUpstream(d: Deployment, input: ChatInput): Promise<number | undefined> {
  if (d.tokenizer === "none" || d.provider !== "openai" || tokenizerPaused(d)) return undefined;
  if (d.tokenizer !== "llamacpp") {
    const n = await pauseIfSlow(d, tokenizeVllm(d, { messages: input.messages, ...(input.tools?.length ? { tools: input.tools } : {}), add_generation_prompt: true }));
    if (n !== undefined) return (d.tokenizer = "vllm"), n;
    if (d.tokenizer === "vllm" || tokenizerPaused(d)) return undefined;
  }
  const n = await pauseIfSlow(d, tokenizeLlamaCpp(d, input));
  // A pause is not a verdict: the tokenizer is tried again when it ends.
  if (!tokenizerPaused(d)) d.tokenizer = n === undefined ? "none" : "llamacpp";
  return n;
}

async function tokenizeVllm(d: Deployment, body: Record<string, unknown>): Promise<number | undefined> {
  const res = await requestUpstream(new URL(`${d.root}/tokenize`), "POST", { model: d.upstreamModel, ...body }, auth(d), TOKENIZE_TIMEOUT_MS);
  const json = (await readJson(res)) as { count?: number; tokens?: unknown[] };
  if (res.status !== 200 || typeof json.count !== "number") return undefined;
  return json.count;
}

async function tokenizeLlamaCpp(d: Deployment, input: ChatInput): Promise<number | undefined> {
  const templated = await requestUpstream(new URL(`${d.root}/apply-template`), "POST", { messages: input.messages }, auth(d), TOKENIZE_TIMEOUT_MS);
  const { prompt } = (await readJson(templated)) as { prompt?: string };
  if (templated.status !== 200 || typeof prompt !== "string") return undefined;
  const res = await requestUpstream(new URL(`${d.root}/tokenize`), "POST", { content: prompt }, auth(d), TOKENIZE_TIMEOUT_MS);
  const { tokens } = (await readJson(res)) as { tokens?: unknown[] };
  return res.status === 200 && Array.isArray(tokens) ? tokens.length + (input.tools?.length ? await bundledOrEstimate(JSON.stringify(input.tools)) : 0) : undefined;
}

async function bundledOrEstimate(text: string): Promise<number> {
  return (await bundledCount(text)) ?? estimate(text);
}

export function auth(d: Deployment): Record<string, string> {
  return d.apiKey ? { Authorization: `Bearer ${d.apiKey}` } : {};
}

type Encoder = { encode: (text: string) => number[] };
let encoder: Promise<Encoder | undefined> | undefined;

/** o200k_base, loaded on first use (its ranks take a moment to load). */
async function bundledCount(text: string): Promise<number | undefined> {
  encoder ??= (async () => {
    try {
      const [{ Tiktoken }, { default: ranks }] = await Promise.all([import("js-tiktoken/lite"), import("js-tiktoken/ranks/o200k_base")]);
      return new Tiktoken(ranks);
    } catch {
      return undefined;
    }
  })();
  return (await encoder)?.encode(text).length;
}

/** Characters / 3: more tokens than most tokenizers produce for code and prose, so the cap stays safe. */
function estimate(text: string): number {
  return Math.ceil(text.length / 3);
}

/** The text a chat request sends: message contents (text parts of multi-part ones), tool calls, and tool definitions. */
function flatten(input: ChatInput): string {
  const parts: string[] = [];
  for (const m of input.messages) {
    const content = m.content;
    if (typeof content === "string") parts.push(content);
    else if (Array.isArray(content)) {
      for (const part of content as Array<Record<string, unknown>>) {
        if (typeof part.text === "string") parts.push(part.text);
        // An image costs hundreds of tokens whatever its size on the wire; count a typical tile.
        else if (part.type === "image_url") parts.push("x".repeat(765 * 3));
      }
    }
    if (m.tool_calls) parts.push(JSON.stringify(m.tool_calls));
  }
  if (input.tools?.length) parts.push(JSON.stringify(input.tools));
  return parts.join("\n");
}

/**
 * An upper bound of a chat request's input tokens without a tokenizer: a token
 * covers at least one UTF-8 byte in byte-level BPE and in SentencePiece with
 * byte fallback, and a chat template adds a few tokens per message. When the
 * requested output fits beside this bound, no exact count is needed at all.
 */
export function inputUpperBound(input: ChatInput): number {
  return Buffer.byteLength(JSON.stringify(input.messages)) + (input.tools ? Buffer.byteLength(JSON.stringify(input.tools)) : 0) + 16 * input.messages.length + 64;
}

/** How many tokens the reply may have: what is left of the window after the input and a buffer, never above the model's max output. */
export function outputRoom(d: Deployment, inputTokens: number, buffer: number): number | undefined {
  if (d.contextWindow === undefined) return d.maxOutput;
  const room = d.contextWindow - inputTokens - buffer;
  if (room < 1) {
    throw new GatewayError(
      400,
      "context_length_exceeded",
      `This model's maximum context length is ${d.contextWindow} tokens, and the input alone is ${inputTokens} tokens (${buffer} are kept free for the reply's start): shorten the messages.`,
      "messages",
    );
  }
  return d.maxOutput === undefined ? room : Math.min(room, d.maxOutput);
}

/** Reads the window and input size out of an upstream's context-length error (vLLM's and llama.cpp's wording). */
export function parseContextError(body: unknown): { window: number; input: number } | undefined {
  const text = JSON.stringify(body);
  const vllm = /maximum context length is (\d+) tokens.*?\((\d+) in the messages/.exec(text);
  if (vllm) return { window: Number(vllm[1]), input: Number(vllm[2]) };
  const llama = body as { error?: { n_ctx?: number; n_prompt_tokens?: number } };
  if (llama?.error?.n_ctx && llama.error.n_prompt_tokens) return { window: llama.error.n_ctx, input: llama.error.n_prompt_tokens };
  return undefined;
}

/**
 * Whether a deployment's server takes connections at all: undefined when it
 * answers anything (or is only slow), else why not (refused, no such host).
 */
export async function unreachable(d: Deployment): Promise<string | undefined> {
  try {
    const res = await requestUpstream(new URL(`${d.apiBase}/models`), "GET", undefined, auth(d), TOKENIZE_TIMEOUT_MS);
    res.body.resume();
    return undefined;
  } catch (err) {
    return err instanceof UpstreamUnavailable && !err.timedOut ? err.message : undefined;
  }
}

/** The context window an upstream reports: vLLM's max_model_len in /v1/models, llama.cpp's n_ctx in /props. */
export async function discoverWindow(d: Deployment): Promise<number | undefined> {
  try {
    const res = await requestUpstream(new URL(`${d.apiBase}/models`), "GET", undefined, auth(d), TOKENIZE_TIMEOUT_MS);
    const models = (await readJson(res)) as { data?: Array<{ id?: string; max_model_len?: number; meta?: { n_ctx_train?: number } }> };
    const entry = models.data?.find((m) => m.id === d.upstreamModel) ?? models.data?.[0];
    if (entry?.max_model_len) return entry.max_model_len;
  } catch {
    // try llama.cpp next
  }
  try {
    const res = await requestUpstream(new URL(`${d.root}/props`), "GET", undefined, auth(d), TOKENIZE_TIMEOUT_MS);
    const props = (await readJson(res)) as { default_generation_settings?: { n_ctx?: number } };
    return props.default_generation_settings?.n_ctx;
  } catch {
    return undefined;
  }
}
