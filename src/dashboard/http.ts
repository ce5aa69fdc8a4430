import { createReadStream, existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize } from "node:path";
import { PaddockError } from "../errors/index.js";

/**
 * Every answer of the dashboard carries these: scripts and styles only from its own files (no inline script can
 * run, whatever text reaches a page), no framing, no sniffing, no referrer to other sites (the
 * same-origin policy keeps the Origin header true, which the CSRF check reads), nothing kept in caches.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "same-origin",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8" }).end(JSON.stringify(value));
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, where?: string): void {
  sendJson(res, status, { error: { code, message, ...(where ? { where } : {}) } });
}

export function redirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { ...SECURITY_HEADERS, ...headers, Location: location }).end();
}

/** A file of the built front end; only names inside its folder, never a path out of it. */
export function sendAsset(res: ServerResponse, dir: string, name: string): boolean {
  const file = normalize(join(dir, name));
  if (!file.startsWith(`${normalize(dir)}/`) || !existsSync(file) || !statSync(file).isFile()) return false;
  const type = TYPES[extname(file)] ?? "application/octet-stream";
  // The bundle's names do not change between builds of one version; the daemon's pages are never cached.
  res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": type, "Content-Length": String(statSync(file).size) });
  createReadStream(file).pipe(res);
  return true;
}

export function cookies(req: IncomingMessage): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) found.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return found;
}

/** The request's body, at most `limit` bytes: a larger one is refused before it is read in full. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new PaddockError("body_too_large", `the request body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new PaddockError("body_too_large", `the request body is over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(text || "{}");
  } catch {
    throw new PaddockError("request_invalid", "the request body is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PaddockError("request_invalid", "the request body must be a JSON object");
  return value as Record<string, unknown>;
}

/** The HTML-escaped form of text, for the one page the server writes itself (the login form). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
