import type { ServerResponse } from "node:http";

/** OpenAI's error types; Anthropic's are derived from them in `anthropicBody`. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "budget_exceeded"
  | "context_length_exceeded"
  | "request_too_large"
  | "api_error"
  | "overloaded_error"
  | "timeout_error";

/** An error a client gets, in its own API's format, with the status code its SDK expects. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export type Dialect = "openai" | "anthropic";

/** Starts a server-sent event stream; its headers stay readable, so an error later on can end it with an error event. */
export function startEventStream(res: ServerResponse): void {
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache");
  res.setHeader("Connection", "keep-alive");
  res.writeHead(200);
}

export function sendError(res: ServerResponse, err: GatewayError, dialect: Dialect): void {
  const body = dialect === "anthropic" ? anthropicBody(err) : { error: { message: err.message, type: openaiType(err.type), param: err.param, code: err.type === "context_length_exceeded" ? "context_length_exceeded" : String(err.status) } };
  if (res.headersSent) {
    // A stream already under way ends with an error event, which both SDKs raise as an API error; anything else is cut.
    if (!String(res.getHeader("Content-Type")).startsWith("text/event-stream") || res.writableEnded) return void res.destroy();
    return void res.end(`${dialect === "anthropic" ? "event: error\n" : ""}data: ${JSON.stringify(body)}\n\n`);
  }
  const text = JSON.stringify(body);
  res.writeHead(err.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...err.headers });
  res.end(text);
}

function openaiType(type: ErrorType): string {
  return type === "context_length_exceeded" || type === "request_too_large" ? "invalid_request_error" : type;
}

function anthropicBody(err: GatewayError) {
  const map: Record<ErrorType, string> = {
    invalid_request_error: "invalid_request_error",
    context_length_exceeded: "invalid_request_error",
    budget_exceeded: "invalid_request_error",
    authentication_error: "authentication_error",
    permission_error: "permission_error",
    not_found_error: "not_found_error",
    rate_limit_error: "rate_limit_error",
    request_too_large: "request_too_large",
    api_error: "api_error",
    overloaded_error: "overloaded_error",
    timeout_error: "api_error",
  };
  return { type: "error", error: { type: map[err.type], message: err.message } };
}
