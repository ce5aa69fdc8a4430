import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";

/** A response from a model server, its body not yet read. */
export interface UpstreamResponse {
  status: number;
  headers?: IncomingHttpHeaders;
  body: Readable;
}

/** The connection failed, timed out, or the server answered 5xx: another deployment may do better. */
export class UpstreamUnavailable extends Error {
  constructor(
    message: string,
    readonly timedOut = false,
    /** The server is up but busy (503: loading its model, overloaded): the same one may answer after this long. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Whether a status means "try again, here or elsewhere": any 5xx but 501 (Not
 * Implemented: this server never does this, e.g. llama.cpp started without
 * --embeddings), which is a final answer, passed on in the server's own words.
 */
export function unavailable(status: number): boolean {
  return status >= 500 && status !== 501;
}

/** Waits for a busy server's Retry-After (seconds), within reason; llama.cpp sends none while it loads a model. */
export const BUSY_WAIT_MS = { default: 500, max: 5_000 };

/** A 5xx answer as an UpstreamUnavailable; a 503 says how long to wait before asking the same server again. */
export async function serverError(deploymentId: string, res: UpstreamResponse): Promise<UpstreamUnavailable> {
  const text = await readBody(res.body).catch(() => "");
  const retryAfter = Number(res.headers?.["retry-after"]);
  const wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? Math.min(retryAfter * 1000, BUSY_WAIT_MS.max) : BUSY_WAIT_MS.default;
  return new UpstreamUnavailable(`${deploymentId} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`, false, res.status === 503 ? wait : undefined);
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 512 }), https: new https.Agent({ keepAlive: true, maxSockets: 512 }) };

/** POSTs (or GETs) JSON to a model server over kept-alive connections; `signal` aborts it when the client goes away. */
export function requestUpstream(url: URL, method: "GET" | "POST", body: unknown, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const secure = url.protocol === "https:";
    const req = (secure ? https : http).request(url, {
      method,
      agent: secure ? agents.https : agents.http,
      headers: { ...headers, ...(payload ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) } : {}) },
      timeout: timeoutMs,
      signal,
    });
    req.on("response", (res) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res }));
    req.on("timeout", () => req.destroy(new UpstreamUnavailable(`no answer from ${url.host} within ${timeoutMs} ms`, true)));
    req.on("error", (err) => reject(err instanceof UpstreamUnavailable || err.name === "AbortError" ? err : new UpstreamUnavailable(`${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    req.end(payload);
  });
}

export async function readBody(body: Readable, limit = 64 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new UpstreamUnavailable("the upstream answer is too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function readJson(res: UpstreamResponse): Promise<unknown> {
  const text = await readBody(res.body);
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamUnavailable(`the upstream answered ${res.status} with a body that is not JSON`);
  }
}
