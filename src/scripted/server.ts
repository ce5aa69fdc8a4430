import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { countChat, countText, type ChatLike } from "./tokenizer.js";

/** One scripted turn: what the model answers when the last message matches. */
export interface ScriptedTurn {
  /** Matched against the text of the last message; the first matching unused turn answers. */
  when?: RegExp;
  /** Also required: matches the request's system prompt (e.g. an agent's title generator). */
  system?: RegExp;
  /** Also required: matches the names of the tools the request offers, joined by commas (tells one agent from another). */
  tools?: RegExp;
  /** Also required: the conversation holds exactly this many tool results, so that, with `repeat`, concurrent conversations each walk the script's steps. */
  toolResults?: number;
  content?: string;
  tool_calls?: Array<{ name: string; arguments: Record<string, unknown> }>;
  /** Fail instead: an HTTP status with an OpenAI-style error body. */
  fail?: number;
  /** Wait before answering (ms). */
  delayMs?: number;
  /** Wait between streamed chunks (ms). */
  chunkDelayMs?: number;
  /** Keep this turn for every later match instead of using it once. */
  repeat?: boolean;
}

export interface ScriptedModelOptions {
  /** Served model name (vLLM's --served-model-name). */
  model?: string;
  /** vLLM's --max-model-len. */
  maxModelLen?: number;
  script?: ScriptedTurn[];
  /** Stream the reply in chunks of this many characters. */
  chunkChars?: number;
  /** Serve vLLM's /tokenize (default); without it, callers must count by themselves. */
  tokenizeEndpoint?: boolean;
  /** Answer /tokenize only after this long, as a tokenizer behind an overloaded server does. */
  tokenizeDelayMs?: number;
  /** Whose server to imitate: vLLM (default) or llama.cpp's llama-server (/props, /apply-template, /tokenize {content}, its errors). */
  dialect?: "vllm" | "llamacpp";
}

export interface RequestLog {
  path: string;
  body: Record<string, unknown>;
  aborted: boolean;
}

/**
 * A stand-in for vLLM's OpenAI-compatible server that replays a script:
 * /v1/models (with max_model_len), /tokenize, /v1/chat/completions streaming
 * and not, tool calls, /v1/completions, /v1/embeddings, and vLLM's own error
 * bodies, including its context-length error. Models cannot be downloaded
 * here; everything else in paddock talks to this as to the real thing.
 */
export class ScriptedModel {
  readonly model: string;
  readonly maxModelLen: number;
  readonly requests: RequestLog[] = [];
  /** Most chat requests it was answering at the same time. */
  maxConcurrent = 0;
  private active = 0;
  private script: ScriptedTurn[];
  private readonly chunkChars: number;
  private server?: Server;
  port = 0;

  constructor(options: ScriptedModelOptions = {}) {
    this.model = options.model ?? "scripted";
    this.maxModelLen = options.maxModelLen ?? 20480;
    this.script = [...(options.script ?? [])];
    this.chunkChars = options.chunkChars ?? 8;
    this.tokenizeEndpoint = options.tokenizeEndpoint ?? true;
    this.tokenizeDelayMs = options.tokenizeDelayMs ?? 0;
    this.dialect = options.dialect ?? "vllm";
  }

  private readonly tokenizeEndpoint: boolean;
  private readonly tokenizeDelayMs: number;
  readonly dialect: "vllm" | "llamacpp";

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  setScript(script: ScriptedTurn[]): void {
    this.script = [...script];
  }

  async listen(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? "").split("?")[0]!;
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
    } catch {
      return vllmError(res, 400, "Invalid JSON body", "BadRequestError");
    }
    const entry: RequestLog = { path, body, aborted: false };
    this.requests.push(entry);
    res.on("close", () => (entry.aborted = !res.writableFinished));
    if (req.method === "GET" && path === "/v1/models") return json(res, 200, this.models());
    if (req.method === "GET" && path === "/props" && this.dialect === "llamacpp") {
      return json(res, 200, { default_generation_settings: { n_ctx: this.maxModelLen }, total_slots: 1, chat_template: "chatml" });
    }
    if (req.method === "GET" && path === "/health") return void res.writeHead(200).end();
    if (req.method !== "POST") return vllmError(res, 404, "Not Found", "NotFoundError");
    if (body.model !== undefined && body.model !== this.model) {
      return vllmError(res, 404, `The model \`${String(body.model)}\` does not exist.`, "NotFoundError");
    }
    switch (path) {
      case "/tokenize":
        if (this.tokenizeDelayMs) await new Promise((resolve) => setTimeout(resolve, this.tokenizeDelayMs));
        if (this.dialect === "llamacpp") return json(res, 200, { tokens: Array.from({ length: countText(String(body.content ?? "")) }, (_, i) => i) });
        return this.tokenizeEndpoint ? this.tokenize(res, body) : vllmError(res, 404, "Not Found", "NotFoundError");
      case "/apply-template":
        if (this.dialect !== "llamacpp") return vllmError(res, 404, "Not Found", "NotFoundError");
        return json(res, 200, { prompt: chatml(body as unknown as ChatLike) });
      case "/v1/messages":
        return this.anthropic(res, body);
      case "/v1/chat/completions":
        this.maxConcurrent = Math.max(this.maxConcurrent, ++this.active);
        try {
          return await this.chat(res, body as unknown as ChatLike & Record<string, unknown>);
        } finally {
          this.active--;
        }
      case "/v1/completions":
        return this.completion(res, body);
      case "/v1/embeddings":
        return this.embeddings(res, body);
      default:
        return vllmError(res, 404, "Not Found", "NotFoundError");
    }
  }

  private models() {
    if (this.dialect === "llamacpp") return { object: "list", data: [{ id: this.model, object: "model", created: 1_700_000_000, owned_by: "llamacpp", meta: { n_ctx_train: 131072 } }] };
    return {
      object: "list",
      data: [{ id: this.model, object: "model", created: 1_700_000_000, owned_by: "vllm", root: this.model, parent: null, max_model_len: this.maxModelLen, permission: [] }],
    };
  }

  /** The prompt's size as this server counts it: vLLM's chat template, or llama.cpp's ChatML text tokenised. */
  private chatInput(body: ChatLike): number {
    return this.dialect === "llamacpp" ? countText(chatml(body)) : countChat(body);
  }

  private tokenize(res: ServerResponse, body: Record<string, unknown>): void {
    const count = Array.isArray(body.messages) ? countChat(body as unknown as ChatLike) : countText(String(body.prompt ?? ""));
    json(res, 200, { count, max_model_len: this.maxModelLen, tokens: Array.from({ length: count }, (_, i) => i) });
  }

  /** vLLM refuses a request whose prompt plus max_tokens exceeds the window, with this exact message. */
  private overLimit(res: ServerResponse, input: number, maxTokens: number | undefined): boolean {
    const requested = input + (maxTokens ?? 0);
    if (requested <= this.maxModelLen) return false;
    if (this.dialect === "llamacpp") {
      json(res, 400, { error: { code: 400, message: "the request exceeds the available context size, try increasing it", type: "exceed_context_size_error", n_prompt_tokens: input, n_ctx: this.maxModelLen } });
      return true;
    }
    vllmError(
      res,
      400,
      `This model's maximum context length is ${this.maxModelLen} tokens. However, you requested ${requested} tokens (${input} in the messages, ${maxTokens ?? 0} in the completion). Please reduce the length of the messages or completion.`,
      "BadRequestError",
    );
    return true;
  }

  private nextTurn(lastText: string, systemText = "", toolNames = "", toolResults = 0): ScriptedTurn {
    const i = this.script.findIndex(
      (t) => (!t.when || t.when.test(lastText)) && (!t.system || t.system.test(systemText)) && (!t.tools || t.tools.test(toolNames)) && (t.toolResults === undefined || t.toolResults === toolResults),
    );
    if (i < 0) return { content: "ok" };
    const turn = this.script[i]!;
    if (!turn.repeat) this.script.splice(i, 1);
    return turn;
  }

  private async chat(res: ServerResponse, body: ChatLike & Record<string, unknown>): Promise<void> {
    if (!Array.isArray(body.messages) || body.messages.length === 0) return vllmError(res, 400, "messages must be a non-empty list", "BadRequestError");
    const input = this.chatInput(body);
    const maxTokens = (body.max_completion_tokens ?? body.max_tokens) as number | undefined;
    if (this.overLimit(res, input, maxTokens)) return;
    const last = body.messages[body.messages.length - 1]!;
    const system = body.messages.filter((m) => m.role === "system").map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? ""))).join("\n");
    const tools = ((body.tools ?? []) as Array<{ function?: { name?: string } }>).map((t) => t.function?.name ?? "").join(",");
    const turn = this.nextTurn(typeof last.content === "string" ? last.content : JSON.stringify(last.content ?? ""), system, tools, body.messages.filter((m) => m.role === "tool").length);
    if (turn.delayMs) await new Promise((resolve) => setTimeout(resolve, turn.delayMs));
    if (turn.fail) return vllmError(res, turn.fail, `scripted failure ${turn.fail}`, turn.fail >= 500 ? "InternalServerError" : "BadRequestError");
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const created = Math.floor(Date.now() / 1000);
    let content = turn.content ?? (turn.tool_calls ? null : "ok");
    if (content && maxTokens !== undefined && countText(content) > maxTokens) content = content.split(/\s+/).slice(0, maxTokens).join(" ");
    const toolCalls = turn.tool_calls?.map((c, i) => ({ id: `chatcmpl-tool-${i}${id.slice(-6)}`, type: "function" as const, function: { name: c.name, arguments: JSON.stringify(c.arguments) } }));
    const output = countText(content ?? "") + (toolCalls ? countText(JSON.stringify(toolCalls)) : 0);
    const finish = toolCalls ? "tool_calls" : maxTokens !== undefined && output >= maxTokens ? "length" : "stop";
    const usage = { prompt_tokens: input, total_tokens: input + output, completion_tokens: output, prompt_tokens_details: null };
    if (!body.stream) {
      return json(res, 200, {
        id,
        object: "chat.completion",
        created,
        model: this.model,
        choices: [{ index: 0, message: { role: "assistant", reasoning_content: null, content, tool_calls: toolCalls ?? [] }, logprobs: null, finish_reason: finish, stop_reason: null }],
        usage,
        prompt_logprobs: null,
      });
    }
    res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache" });
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: this.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`);
    chunk({ role: "assistant", content: "" });
    for (let i = 0; content && i < content.length; i += this.chunkChars) {
      if (res.destroyed) return;
      chunk({ content: content.slice(i, i + this.chunkChars) });
      await new Promise((resolve) => (turn.chunkDelayMs ? setTimeout(resolve, turn.chunkDelayMs) : setImmediate(resolve)));
    }
    toolCalls?.forEach((call, index) => {
      chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] });
      const args = call.function.arguments;
      for (let i = 0; i < args.length; i += this.chunkChars) chunk({ tool_calls: [{ index, function: { arguments: args.slice(i, i + this.chunkChars) } }] });
    });
    chunk({}, finish);
    const options = body.stream_options as { include_usage?: boolean } | undefined;
    if (options?.include_usage) res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: this.model, choices: [], usage })}\n\n`);
    res.end("data: [DONE]\n\n");
  }

  /** Anthropic's Messages API, as a server that speaks it natively (for the gateway's pass-through). */
  private anthropic(res: ServerResponse, body: Record<string, unknown>): void {
    const messages = (body.messages ?? []) as Array<{ content: unknown }>;
    const input = countChat({ messages: messages.map((m) => ({ role: "user", content: m.content })) });
    const text = this.nextTurn(JSON.stringify(messages.at(-1)?.content ?? ""), JSON.stringify(body.system ?? "")).content ?? "ok";
    const output = countText(text);
    const message = { id: `msg_${Math.random().toString(36).slice(2)}`, type: "message", role: "assistant", model: this.model, content: [{ type: "text", text }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: input, output_tokens: output } };
    if (!body.stream) return json(res, 200, message);
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    const event = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    event("message_start", { type: "message_start", message: { ...message, content: [], stop_reason: null, usage: { input_tokens: input, output_tokens: 0 } } });
    event("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } });
    event("content_block_stop", { type: "content_block_stop", index: 0 });
    event("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: output } });
    event("message_stop", { type: "message_stop" });
    res.end();
  }

  private completion(res: ServerResponse, body: Record<string, unknown>): void {
    const prompt = `${String(body.prompt ?? "")}${String(body.suffix ?? "")}`;
    const input = countText(prompt);
    const maxTokens = body.max_tokens as number | undefined;
    if (this.overLimit(res, input, maxTokens)) return;
    const text = this.nextTurn(prompt).content ?? "ok";
    const output = countText(text);
    const base = { id: `cmpl-${Math.random().toString(36).slice(2)}`, object: "text_completion", created: Math.floor(Date.now() / 1000), model: this.model };
    const usage = { prompt_tokens: input, total_tokens: input + output, completion_tokens: output };
    if (!body.stream) return json(res, 200, { ...base, choices: [{ index: 0, text, logprobs: null, finish_reason: "stop", stop_reason: null }], usage });
    res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8" });
    for (let i = 0; i < text.length; i += this.chunkChars) res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, text: text.slice(i, i + this.chunkChars), logprobs: null, finish_reason: null }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, text: "", logprobs: null, finish_reason: "stop" }] })}\n\n`);
    if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
    res.end("data: [DONE]\n\n");
  }

  private embeddings(res: ServerResponse, body: Record<string, unknown>): void {
    const inputs = Array.isArray(body.input) ? (body.input as string[]) : [String(body.input ?? "")];
    const tokens = inputs.reduce((n, t) => n + countText(t), 0);
    json(res, 200, {
      id: `embd-${Math.random().toString(36).slice(2)}`,
      object: "list",
      created: Math.floor(Date.now() / 1000),
      model: this.model,
      data: inputs.map((t, index) => ({ index, object: "embedding", embedding: [countText(t) / 100, t.length / 1000, 0.5] })),
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
    });
  }
}

/** A ChatML rendering, as llama.cpp applies a model's template. */
function chatml(body: ChatLike): string {
  return `${body.messages.map((m) => `<|im_start|>${m.role}\n${typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? "")}<|im_end|>\n`).join("")}<|im_start|>assistant\n`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** vLLM's error body: {"object":"error","message":...,"type":...,"param":null,"code":status}. */
function vllmError(res: ServerResponse, status: number, message: string, type: string): void {
  json(res, status, { object: "error", message, type, param: null, code: status });
}
