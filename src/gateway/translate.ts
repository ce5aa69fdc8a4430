import { randomBytes } from "node:crypto";
import { GatewayError } from "./errors.js";

type Block = Record<string, unknown> & { type: string };
type AnthropicMessage = { role: "user" | "assistant" | "system"; content: string | Block[] };

/** Anthropic Messages request → OpenAI chat request. */
export function toOpenAI(body: Record<string, unknown>): Record<string, unknown> {
  if (typeof body.model !== "string") throw new GatewayError(400, "invalid_request_error", "model: Field required", "model");
  if (typeof body.max_tokens !== "number") throw new GatewayError(400, "invalid_request_error", "max_tokens: Field required", "max_tokens");
  if (!Array.isArray(body.messages)) throw new GatewayError(400, "invalid_request_error", "messages: Field required", "messages");
  const messages: Array<Record<string, unknown>> = [];
  const system = typeof body.system === "string" ? body.system : Array.isArray(body.system) ? (body.system as Block[]).map((b) => String(b.text ?? "")).join("\n") : undefined;
  if (system) messages.push({ role: "system", content: system });
  for (const m of body.messages as AnthropicMessage[]) messages.push(...convertMessage(m));
  const out: Record<string, unknown> = { model: body.model, messages, max_tokens: body.max_tokens, stream: !!body.stream };
  if (body.temperature !== undefined) out.temperature = body.temperature;
  if (body.top_p !== undefined) out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences)) out.stop = body.stop_sequences;
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = (body.tools as Array<{ name: string; description?: string; input_schema?: unknown }>).map((t) => ({
      type: "function",
      function: { name: t.name, description: t.description, parameters: t.input_schema ?? { type: "object", properties: {} } },
    }));
    const choice = body.tool_choice as { type?: string; name?: string } | undefined;
    if (choice?.type === "any") out.tool_choice = "required";
    else if (choice?.type === "tool" && choice.name) out.tool_choice = { type: "function", function: { name: choice.name } };
    else if (choice?.type === "none") out.tool_choice = "none";
  }
  // Anthropic's structured outputs (output_config.format, or the older top-level output_format) are OpenAI's
  // response_format: the model server's grammar then holds the reply to the schema.
  const format = (body.output_format ?? (body.output_config as { format?: unknown } | undefined)?.format) as { type?: string; schema?: unknown } | undefined;
  if (format?.type === "json_schema" && typeof format.schema === "object" && format.schema !== null) {
    out.response_format = { type: "json_schema", json_schema: { name: "structured_output", schema: format.schema, strict: true } };
  }
  return out;
}

function convertMessage(m: AnthropicMessage): Array<Record<string, unknown>> {
  if (typeof m.content === "string") return [{ role: m.role, content: m.content }];
  // Claude Code sends system turns inside the conversation; where they go upstream is the deployment's choice (placeSystemMessages).
  if (m.role === "system") return [{ role: "system", content: m.content.map((b) => String(b.text ?? "")).join("") }];
  if (m.role === "assistant") {
    const text = m.content.filter((b) => b.type === "text").map((b) => String(b.text)).join("");
    const toolCalls = m.content.filter((b) => b.type === "tool_use").map((b) => ({ id: b.id, type: "function", function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }));
    return [{ role: "assistant", content: text || null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) }];
  }
  // A user turn: tool results become tool messages (in order, before the user's own words).
  const out: Array<Record<string, unknown>> = [];
  const parts: Array<Record<string, unknown>> = [];
  for (const b of m.content) {
    if (b.type === "tool_result") {
      const content = typeof b.content === "string" ? b.content : Array.isArray(b.content) ? (b.content as Block[]).map((c) => String(c.text ?? "")).join("") : "";
      out.push({ role: "tool", tool_call_id: b.tool_use_id, content: b.is_error ? `Error: ${content}` : content });
    } else if (b.type === "text") {
      parts.push({ type: "text", text: b.text });
    } else if (b.type === "image") {
      const source = b.source as { type: string; media_type?: string; data?: string; url?: string };
      parts.push({ type: "image_url", image_url: { url: source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : source.url } });
    }
  }
  if (parts.length > 0) out.push({ role: "user", content: parts.every((p) => p.type === "text") ? parts.map((p) => p.text).join("") : parts });
  return out;
}

const STOP_REASONS: Record<string, string> = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use", function_call: "tool_use", content_filter: "refusal" };

export function messageId(): string {
  return `msg_${randomBytes(12).toString("hex")}`;
}

/** OpenAI chat completion → Anthropic Message. */
export function toAnthropic(json: Record<string, unknown>, model: string): Record<string, unknown> {
  const choice = (json.choices as Array<{ message: { content?: string | null; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> }; finish_reason: string }>)[0]!;
  const content: Block[] = [];
  if (choice.message.content) content.push({ type: "text", text: choice.message.content });
  for (const call of choice.message.tool_calls ?? []) content.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
  const usage = json.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
  return {
    id: messageId(),
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: STOP_REASONS[choice.finish_reason] ?? "end_turn",
    stop_sequence: null,
    usage: { input_tokens: usage?.prompt_tokens ?? 0, output_tokens: usage?.completion_tokens ?? 0 },
  };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text || "{}");
  } catch {
    return { _raw: text };
  }
}

/**
 * Turns OpenAI chat chunks into Anthropic's event sequence: message_start,
 * then per block content_block_start / _delta / _stop (text_delta,
 * input_json_delta), then message_delta with the stop reason and usage, and
 * message_stop.
 */
export class StreamTranslator {
  private readonly id = messageId();
  private open?: { index: number; kind: "text" | "tool"; toolIndex?: number };
  private nextIndex = 0;
  private stopReason = "end_turn";
  usage = { input: 0, output: 0 };

  constructor(
    private readonly model: string,
    inputTokens: number,
  ) {
    this.usage.input = inputTokens;
  }

  start(): string {
    return event("message_start", {
      type: "message_start",
      message: { id: this.id, type: "message", role: "assistant", model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: this.usage.input, output_tokens: 0 } },
    });
  }

  chunk(data: Record<string, unknown>): string {
    let out = "";
    const usage = data.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
    if (usage) this.usage = { input: usage.prompt_tokens ?? this.usage.input, output: usage.completion_tokens ?? 0 };
    const choice = (data.choices as Array<{ delta?: { content?: string | null; tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> }; finish_reason?: string | null }> | undefined)?.[0];
    if (!choice) return out;
    const delta = choice.delta ?? {};
    if (delta.content) {
      if (this.open?.kind !== "text") out += this.close() + this.begin("text", { type: "text", text: "" });
      out += event("content_block_delta", { type: "content_block_delta", index: this.open!.index, delta: { type: "text_delta", text: delta.content } });
    }
    for (const call of delta.tool_calls ?? []) {
      if (this.open?.kind !== "tool" || this.open.toolIndex !== call.index) {
        out += this.close() + this.begin("tool", { type: "tool_use", id: call.id ?? `toolu_${randomBytes(8).toString("hex")}`, name: call.function?.name ?? "", input: {} }, call.index);
      }
      if (call.function?.arguments) out += event("content_block_delta", { type: "content_block_delta", index: this.open!.index, delta: { type: "input_json_delta", partial_json: call.function.arguments } });
    }
    if (choice.finish_reason) this.stopReason = STOP_REASONS[choice.finish_reason] ?? "end_turn";
    return out;
  }

  finish(): string {
    return (
      this.close() +
      event("message_delta", { type: "message_delta", delta: { stop_reason: this.stopReason, stop_sequence: null }, usage: { input_tokens: this.usage.input, output_tokens: this.usage.output } }) +
      event("message_stop", { type: "message_stop" })
    );
  }

  private begin(kind: "text" | "tool", block: Block, toolIndex?: number): string {
    this.open = { index: this.nextIndex++, kind, toolIndex };
    return event("content_block_start", { type: "content_block_start", index: this.open.index, content_block: block });
  }

  private close(): string {
    if (!this.open) return "";
    const index = this.open.index;
    this.open = undefined;
    return event("content_block_stop", { type: "content_block_stop", index });
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
