import type { Scheme } from "./rules.js";

/** What an agent asked to reach, normalised: lower-case name or canonical IP (WHATWG host parsing folds 0x7f.1, 2130706433, 0177.0.0.1 ...). */
export interface Target {
  host: string;
  port: number;
  scheme: Scheme;
  /** For http requests: the URL to request at the origin (path and query), and whether the origin speaks TLS. */
  path?: string;
  tls?: boolean;
}

export class TargetError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** An absolute-form request target (`GET http://host/path`), checked against its Host header. */
export function httpTarget(url: string, hostHeader: string | undefined): Target {
  if (!/^https?:\/\//i.test(url)) {
    throw new TargetError("origin_form", "this is a forward proxy: send absolute-form requests (GET http://host/path), or CONNECT for TLS");
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TargetError("bad_target", `'${url}' is not a valid URL`);
  }
  const tls = parsed.protocol === "https:";
  const port = parsed.port ? Number(parsed.port) : tls ? 443 : 80;
  const host = hostOf(parsed);
  if (hostHeader !== undefined) {
    let header: URL;
    try {
      header = new URL(`http://${hostHeader}`);
    } catch {
      throw new TargetError("host_mismatch", `the Host header '${hostHeader}' is not a valid host`);
    }
    const headerPort = header.port ? Number(header.port) : port;
    if (hostOf(header) !== host || headerPort !== port) {
      throw new TargetError("host_mismatch", `the Host header '${hostHeader}' names another host than the request line (${host}:${port})`);
    }
  }
  return { host, port, scheme: tls ? "tunnel" : "http", path: `${parsed.pathname}${parsed.search}`, tls };
}

/** A CONNECT target (`host:port`, `[v6]:port`). */
export function connectTarget(authority: string): Target {
  const m = /^(\[[^\]]+\]|[^:/?#@\s]+):(\d{1,5})$/.exec(authority);
  if (!m) throw new TargetError("bad_target", `CONNECT needs host:port, got '${authority}'`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new TargetError("bad_target", `port ${port} is out of range`);
  let parsed: URL;
  try {
    parsed = new URL(`http://${m[1]}`);
  } catch {
    throw new TargetError("bad_target", `'${m[1]}' is not a valid host`);
  }
  return { host: hostOf(parsed), port, scheme: "tunnel" };
}

function hostOf(url: URL): string {
  const host = url.hostname.toLowerCase();
  return host.startsWith("[") ? host.slice(1, -1) : host.replace(/\.$/, "");
}
