import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/** Headers that belong to one hop (RFC 9110, 7.6.1) and are never forwarded. */
const HOP_BY_HOP = new Set(["connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

/** A raw header list (name, value, name, value ...) without hop-by-hop headers, nor those the Connection header names. */
export function endToEndHeaders(raw: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "connection") for (const token of raw[i + 1]!.split(",")) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

export interface Refusal {
  status: number;
  reason: string;
  message: string;
  hint?: string;
  headers?: Record<string, string>;
}

export function refusalBody(r: Refusal, what: string, agentId: string): string {
  return `paddock egress proxy: refused ${what} for agent "${agentId}"\nreason: ${r.reason}: ${r.message}\n${r.hint ? `${r.hint}\n` : ""}`;
}

/** Writes a complete HTTP response on a raw socket (CONNECT, parse errors) and closes it. */
export function writeRaw(socket: Duplex, r: Refusal, body: string): void {
  if (socket.destroyed) return;
  const headers = {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "X-Paddock-Deny-Reason": r.reason,
    Connection: "close",
    ...r.headers,
  };
  const head = [`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ""}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join("\r\n");
  socket.end(`${head}\r\n\r\n${body}`);
  // Read (and drop) what the client still sends, or its FIN is never seen and the socket never closes.
  socket.resume();
  setTimeout(() => socket.destroy(), 5_000).unref();
}
