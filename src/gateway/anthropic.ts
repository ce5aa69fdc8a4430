import type { IncomingMessage, ServerResponse } from "node:http";
import { sendChat, sseData, upstreamError, type ChatDeps } from "./chat.js";
import { GatewayError, startEventStream } from "./errors.js";
import { abortOnClose, send, type Billed } from "./openai.js";
import { countChatInput } from "./tokens.js";
import { toAnthropic, toOpenAI, StreamTranslator } from "./translate.js";
import { readJson, requestUpstream, serverError, unavailable } from "./upstream.js";

/** /v1/messages: passed through to an Anthropic upstream, otherwise translated to OpenAI chat and back. */
export async function messages(deps: ChatDeps, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<Billed> {
  const chat = toOpenAI(body);
  const model = chat.model as string;
  const signal = abortOnClose(req, res);
  if (deps.router.deployments.get(model)?.[0]?.provider === "anthropic") return passThrough(deps, res, body, model, signal);
  const started = performance.now();
  const r = await sendChat(deps, chat as Record<string, unknown> & { messages: Array<Record<string, unknown>> }, signal);
  if (r.status !== 200) throw upstreamError(r);
  const billed: Billed = { model, deployment: r.deployment.id, input: r.input.tokens, output: 0, status: 200, capped: r.sent !== undefined && r.requested !== undefined && r.sent < r.requested, stream: !!body.stream };
  if (!body.stream) {
    const message = toAnthropic((await readJson({ status: 200, body: r.body! })) as Record<string, unknown>, model);
    const usage = message.usage as { input_tokens: number; output_tokens: number };
    Object.assign(billed, { input: usage.input_tokens, output: usage.output_tokens });
    return send(res, 200, message), billed;
  }
  startEventStream(res);
  const translator = new StreamTranslator(model, r.input.tokens);
  res.write(translator.start());
  billed.firstByteMs = performance.now() - started;
  for await (const data of sseData(r.body!)) {
    if (data === "[DONE]") break;
    const out = translator.chunk(JSON.parse(data) as Record<string, unknown>);
    if (out) res.write(out);
  }
  res.end(translator.finish());
  return Object.assign(billed, translator.usage);
}

/** /v1/messages/count_tokens: the translated request counted the way the cap counts it. */
export async function countTokens(deps: ChatDeps, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const chat = toOpenAI({ max_tokens: 1, ...body });
  const deployment = deps.router.deployments.get(chat.model as string)?.[0];
  if (!deployment) throw new GatewayError(404, "not_found_error", `model '${String(chat.model)}' is not served here`, "model");
  const count = await countChatInput(deployment, chat as { messages: Array<Record<string, unknown>>; tools?: unknown[] });
  send(res, 200, { input_tokens: count.tokens });
}

async function passThrough(deps: ChatDeps, res: ServerResponse, body: Record<string, unknown>, model: string, signal: AbortSignal): Promise<Billed> {
  const { value, deployment } = await deps.router.run(model, async (d) => {
    const headers = { ...(d.apiKey ? { "x-api-key": d.apiKey } : {}), "anthropic-version": "2023-06-01" };
    const upstream = await requestUpstream(new URL(`${d.apiBase.replace(/\/v1$/, "")}/v1/messages`), "POST", { ...body, model: d.upstreamModel }, headers, deps.config.litellm_settings.request_timeout * 1000, signal);
    if (unavailable(upstream.status)) throw await serverError(d.id, upstream);
    return { value: upstream, finished: new Promise((resolve) => upstream.body.once("close", resolve)) };
  });
  res.writeHead(value.status, { "Content-Type": body.stream ? "text/event-stream" : "application/json" });
  // The answer goes to the client as it comes; a copy of its text is kept to bill its usage.
  let text = "";
  value.body.on("data", (chunk: Buffer) => {
    if (text.length < USAGE_SCAN_LIMIT) text += chunk.toString("utf8");
  });
  value.body.pipe(res);
  await new Promise((resolve) => res.once("close", resolve));
  const last = (name: string) => [...text.matchAll(new RegExp(`"${name}":(\\d+)`, "g"))].map((m) => Number(m[1])).filter((n) => n > 0).at(-1) ?? 0;
  return { model, deployment: deployment.id, input: last("input_tokens"), output: last("output_tokens"), status: value.status, capped: false, stream: !!body.stream };
}

/** How much of a passed-through answer is kept to find its usage (the usage is at its start and end). */
const USAGE_SCAN_LIMIT = 4 * 1024 * 1024;
