import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { sendChat, sseData, upstreamError, usageOf, type ChatDeps } from "./chat.js";
import { GatewayError, startEventStream } from "./errors.js";
import type { Router } from "./router.js";
import { auth, countPrompt, discoverWindow, outputRoom } from "./tokens.js";
import { readBody, readJson, requestUpstream, serverError, unavailable } from "./upstream.js";

/** What a handler reports for billing once its answer is complete. */
export interface Billed {
  model: string;
  deployment?: string;
  input: number;
  output: number;
  status: number;
  capped: boolean;
  stream: boolean;
  firstByteMs?: number;
}

/** Aborts the upstream call when the client goes away before its answer is complete. */
export function abortOnClose(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  req.once("aborted", () => controller.abort());
  return controller.signal;
}

export function requireChat(body: Record<string, unknown>): asserts body is Record<string, unknown> & { model: string; messages: Array<Record<string, unknown>> } {
  if (typeof body.model !== "string") throw new GatewayError(400, "invalid_request_error", "model is required", "model");
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw new GatewayError(400, "invalid_request_error", "messages must be a non-empty array", "messages");
}

export async function chatCompletions(deps: ChatDeps, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<Billed> {
  requireChat(body);
  const started = performance.now();
  const r = await sendChat(deps, body, abortOnClose(req, res));
  if (r.status !== 200) throw upstreamError(r);
  const capped = r.sent !== undefined && r.requested !== undefined && r.sent < r.requested;
  const billed: Billed = { model: body.model, deployment: r.deployment.id, input: r.input.tokens, output: 0, status: 200, capped, stream: !!body.stream };
  if (!body.stream) {
    // The upstream's bytes go to the client as they came; they are parsed only for the usage.
    const text = await readBody(r.body!);
    const usage = usageOf(JSON.parse(text));
    if (usage) Object.assign(billed, usage);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    return res.end(text), billed;
  }
  return relayStream(res, r.body!, body, billed, started);
}

/** Legacy completions, FIM for editors (streamed or not): max_tokens capped the same way, prompt counted by the upstream's tokenizer. */
export async function completions(deps: ChatDeps, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<Billed> {
  if (typeof body.model !== "string") throw new GatewayError(400, "invalid_request_error", "model is required", "model");
  const signal = abortOnClose(req, res);
  const started = performance.now();
  let capped = false;
  const { value, deployment } = await deps.router.run(body.model, async (d) => {
    d.contextWindow ??= await discoverWindow(d);
    const input = await countPrompt(d, `${String(body.prompt ?? "")}${String(body.suffix ?? "")}`);
    const room = outputRoom(d, input.tokens, deps.config.paddock_settings.cap_buffer_tokens);
    const upstreamBody: Record<string, unknown> = { ...body, model: d.upstreamModel };
    if (body.stream) upstreamBody.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
    if (room !== undefined && typeof body.max_tokens === "number" && body.max_tokens > room) (upstreamBody.max_tokens = room), (capped = true);
    const upstream = await requestUpstream(new URL(`${d.apiBase}/completions`), "POST", upstreamBody, auth(d), deps.config.litellm_settings.request_timeout * 1000, signal);
    if (unavailable(upstream.status)) throw await serverError(d.id, upstream);
    return { value: upstream, finished: new Promise((resolve) => upstream.body.once("close", resolve)) };
  });
  const billed: Billed = { model: body.model, deployment: deployment.id, input: 0, output: 0, status: value.status, capped, stream: !!body.stream };
  if (!body.stream || value.status !== 200) {
    const json = await readJson(value);
    send(res, value.status, json);
    return Object.assign(billed, usageOf(json));
  }
  return relayStream(res, value.body, body, billed, started);
}

/**
 * Relays an OpenAI SSE stream to the client, keeping the usage chunk paddock
 * asked for (for billing) out of the stream of a client that did not ask for it.
 */
async function relayStream(res: ServerResponse, upstream: Readable, body: Record<string, unknown>, billed: Billed, started: number): Promise<Billed> {
  startEventStream(res);
  const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  for await (const data of sseData(upstream)) {
    billed.firstByteMs ??= performance.now() - started;
    if (data.includes('"usage"') && data !== "[DONE]") {
      const parsed = JSON.parse(data) as { choices?: unknown[] };
      const usage = usageOf(parsed);
      if (usage) Object.assign(billed, usage);
      if (!wantsUsage && parsed.choices?.length === 0) continue;
    }
    res.write(`data: ${data}\n\n`);
  }
  res.end();
  return billed;
}

export async function embeddings(deps: ChatDeps, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<Billed> {
  if (typeof body.model !== "string") throw new GatewayError(400, "invalid_request_error", "model is required", "model");
  if (body.input === undefined) throw new GatewayError(400, "invalid_request_error", "input is required", "input");
  const signal = abortOnClose(req, res);
  const { value, deployment } = await deps.router.run(body.model, async (d) => {
    const res = await requestUpstream(new URL(`${d.apiBase}/embeddings`), "POST", { ...body, model: d.upstreamModel }, auth(d), deps.config.litellm_settings.request_timeout * 1000, signal);
    if (unavailable(res.status)) throw await serverError(d.id, res);
    return { value: { status: res.status, json: await readJson(res) }, finished: Promise.resolve() };
  });
  send(res, value.status, value.json);
  return { model: body.model, deployment: deployment.id, ...(usageOf(value.json) ?? { input: 0, output: 0 }), status: value.status, capped: false, stream: false };
}

/** The model names a caller may use, in OpenAI's list format. */
export function models(router: Router, allowed: string[]): unknown {
  const names = router.modelNames().filter((m) => allowed.length === 0 || allowed.includes(m));
  return { object: "list", data: names.map((id) => ({ id, object: "model", created: 0, owned_by: "paddock" })) };
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}
