import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLI, freePort, ROOT, waitForPort } from "../test/helpers.js";
import { startPrinting, startQuiet } from "./processes.js";
import { percentile, sample } from "./stats.js";
import { benchPeers, wrk, type WrkResult } from "./wrk.js";

const run = promisify(execFile);

/**
 * Small GETs through paddock's egress proxy (standalone TCP mode: Basic auth,
 * allowlist, SSRF guard and audit all on), smokescreen (its SSRF guard, one
 * address allowed), tinyproxy, squid, and no proxy, with the same load
 * generator (wrk) against the same origin; then CONNECT setup time, and bulk
 * throughput through a CONNECT tunnel (curl, 1 GiB by default) against direct.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-egress-"));
  const duration = Number(process.env.BENCH_SECONDS ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
  const peers = await benchPeers(ROOT);
  const children = [];
  try {
    const origin = await startPrinting([process.execPath, join(ROOT, "dist", "bench", "origin.js")]);
    children.push(origin.child);
    const originPort = Number(origin.line);

    const token = "bench-token";
    const paddockPort = await freePort();
    const config = join(dir, "egress.json");
    writeFileSync(config, JSON.stringify({ listen: `127.0.0.1:${paddockPort}`, agents: [{ agent_id: "bench", token_sha256: createHash("sha256").update(token).digest("hex"), allowed_hosts: [`127.0.0.1:${originPort}`] }] }));
    children.push(startQuiet([process.execPath, CLI, "egress", "serve", "--config", config], { ...process.env, PADDOCK_HOME: join(dir, "home") }));

    const smokePort = await freePort();
    children.push(startQuiet([peers.SMOKESCREEN!, "--listen-ip", "127.0.0.1", "--listen-port", String(smokePort), "--allow-address", `127.0.0.1:${originPort}`]));

    const tinyPort = await freePort();
    const tinyConf = join(dir, "tinyproxy.conf");
    writeFileSync(tinyConf, `Port ${tinyPort}\nListen 127.0.0.1\nTimeout 600\nMaxClients 1024\nAllow 127.0.0.1\nLogLevel Critical\nConnectPort ${originPort}\nDisableViaHeader Yes\n`);
    children.push(startQuiet(["tinyproxy", "-d", "-c", tinyConf]));

    const bare = await startPrinting([process.execPath, join(ROOT, "dist", "bench", "node-proxy.js")]);
    children.push(bare.child);

    const squidPort = await freePort();
    const squidDir = join(dir, "squid");
    mkdirSync(squidDir, { mode: 0o777 });
    const squidConf = join(dir, "squid.conf");
    writeFileSync(
      squidConf,
      [`http_port 127.0.0.1:${squidPort}`, "acl localnet src 127.0.0.1", "http_access allow localnet", "http_access deny all", "cache deny all", "access_log none", `cache_log ${join(squidDir, "cache.log")}`, `pid_filename ${join(squidDir, "squid.pid")}`, `coredump_dir ${squidDir}`, "shutdown_lifetime 0 seconds", "via off", "forwarded_for delete"].join("\n"),
    );
    children.push(startQuiet(["squid", "-N", "-f", squidConf]));

    await Promise.all([paddockPort, smokePort, tinyPort, squidPort].map((p) => waitForPort(p)));
    const auth = `Basic ${Buffer.from(`bench:${token}`).toString("base64")}`;
    const targets = [
      { name: "no proxy (direct to origin)", port: originPort, proxied: false },
      { name: "paddock egress", port: paddockPort, proxied: true, auth, user: `bench:${token}` },
      { name: `smokescreen ${peers.SMOKESCREEN_VERSION}`, port: smokePort, proxied: true },
      { name: "tinyproxy 1.11", port: tinyPort, proxied: true },
      { name: "squid 5", port: squidPort, proxied: true },
      // Plain HTTP only: it has no CONNECT, so it sits out the tunnel rounds.
      { name: "bare Node proxy (no checks)", port: Number(bare.line), proxied: true, plainOnly: true },
    ];

    console.log(`\nsmall GETs (64-byte body), wrk 1 thread, ${connections} connections, ${duration}s each, after a 1s warm-up`);
    console.log(`${"".padEnd(30)}${"req/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
    const results = new Map<string, WrkResult>();
    for (const t of targets) {
      const lines = [`wrk.headers["Host"] = "127.0.0.1:${originPort}"`, ...(t.auth ? [`wrk.headers["Proxy-Authorization"] = "${t.auth}"`] : []), ...(t.proxied ? [`wrk.path = "http://127.0.0.1:${originPort}/"`] : [])];
      const r = await wrk({ url: `http://127.0.0.1:${t.port}/`, script: { file: join(dir, `${t.port}.lua`), lines }, connections, seconds: duration });
      results.set(t.name, r);
      console.log(`${t.name.padEnd(30)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(10)}`);
    }
    const paddock = results.get("paddock egress")!;
    const [, smoke, tiny, squid, node] = targets.slice(1).map((t) => results.get(t.name)!);
    console.log(`\nthroughput paddock / smokescreen: ${(paddock.rps / smoke!.rps).toFixed(2)}`);
    console.log(`throughput paddock / tinyproxy:   ${(paddock.rps / tiny!.rps).toFixed(2)}`);
    console.log(`throughput paddock / squid:       ${(paddock.rps / squid!.rps).toFixed(2)} (target >= 1.00): ${paddock.rps >= squid!.rps ? "met" : "NOT met"}`);
    console.log(`p99 paddock / squid:              ${(paddock.p99 / squid!.p99).toFixed(2)} (target <= 1.00): ${paddock.p99 <= squid!.p99 ? "met" : "NOT met"}`);
    console.log(`throughput paddock / bare Node:   ${(paddock.rps / node!.rps).toFixed(2)} (what the checks cost on Node's HTTP stack); bare Node / squid: ${(node!.rps / squid!.rps).toFixed(2)}`);

    const n = Number(process.env.BENCH_N ?? 300);
    console.log(`\nCONNECT tunnel setup, ${n} sequential tunnels to the origin's port`);
    console.log(`${"".padEnd(30)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
    const tunnelling = targets.filter((t) => !("plainOnly" in t));
    for (const t of tunnelling.filter((x) => x.proxied)) {
      const samples = await sample(n, () => connectTime(t.port, `127.0.0.1:${originPort}`, t.auth));
      console.log(`${t.name.padEnd(30)}${percentile(samples, 50).toFixed(3).padStart(10)}${percentile(samples, 99).toFixed(3).padStart(10)}`);
    }

    const bytes = Number(process.env.BENCH_BULK_BYTES ?? 1 << 30);
    console.log(`\nbulk download through a CONNECT tunnel: ${(bytes / (1 << 20)).toFixed(0)} MiB from the local origin (curl), best of 2`);
    console.log(`${"".padEnd(30)}${"MiB/s".padStart(10)}${"x direct".padStart(10)}`);
    let direct = 0;
    const bulk = new Map<string, number>();
    for (const t of tunnelling) {
      const proxy = t.proxied ? ["--proxytunnel", "--proxy", `http://127.0.0.1:${t.port}`, ...(t.user ? ["--proxy-user", t.user] : [])] : [];
      const speed = Math.max(await download(proxy, `http://127.0.0.1:${originPort}/bulk/${bytes}`, bytes), await download(proxy, `http://127.0.0.1:${originPort}/bulk/${bytes}`, bytes));
      if (!t.proxied) direct = speed;
      bulk.set(t.name, speed);
      console.log(`${t.name.padEnd(30)}${(speed / (1 << 20)).toFixed(0).padStart(10)}${(speed / direct).toFixed(2).padStart(10)}`);
    }
    const ratio = bulk.get("paddock egress")! / direct;
    console.log(`\nbulk throughput paddock / direct: ${ratio.toFixed(2)} (target >= 0.90): ${ratio >= 0.9 ? "met" : "NOT met"}`);
  } finally {
    for (const child of children) child.kill("SIGTERM");
  }
}

/** Bytes per second of one curl download (through a proxy's CONNECT tunnel when given), checked for its full length. */
async function download(proxy: string[], url: string, bytes: number): Promise<number> {
  const { stdout } = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{size_download} %{speed_download}", ...proxy, url]);
  const [size, speed] = stdout.trim().split(" ").map(Number);
  if (size !== bytes) throw new Error(`curl ${proxy.join(" ")} ${url} read ${size} bytes of ${bytes}`);
  return speed!;
}

function connectTime(port: number, authority: string, auth?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ""}\r\n`);
    });
    let head = "";
    socket.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.destroy();
      if (/^HTTP\/1\.[01] 200/.test(head)) resolve(performance.now() - started);
      else reject(new Error(`CONNECT through ${port} answered: ${head.split("\r\n")[0]}`));
    });
    socket.on("error", reject);
  });
}
