import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";

/** A response from a model server, its body not yet read. */
export interface UpstreamResponse {
  status: number;
  body: Readable;
}

/** The connection failed, timed out, or the server answered 5xx: another deployment may do better. */
export class UpstreamUnavailable extends Error {
  constructor(
    message: string,
    readonly timedOut = false,
  ) {
    super(message);
  }
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
    req.on("response", (res) => resolve({ status: res.statusCode ?? 502, body: res }));
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
