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

const run = promisify(execFile);

/**
 * Small GETs through paddock's egress proxy (standalone TCP mode: Basic auth,
 * allowlist, SSRF guard and audit all on), tinyproxy, squid, and no proxy, with
 * the same load generator (wrk) against the same origin; then CONNECT setup time.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-egress-"));
  const duration = Number(process.env.BENCH_SECONDS ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
  await requireProgram("wrk", "apt-get install wrk");
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

    const tinyPort = await freePort();
    const tinyConf = join(dir, "tinyproxy.conf");
    writeFileSync(tinyConf, `Port ${tinyPort}\nListen 127.0.0.1\nTimeout 600\nMaxClients 1024\nAllow 127.0.0.1\nLogLevel Critical\nConnectPort ${originPort}\nDisableViaHeader Yes\n`);
    await requireProgram("tinyproxy", "apt-get install tinyproxy");
    children.push(startQuiet(["tinyproxy", "-d", "-c", tinyConf]));

    const squidPort = await freePort();
    const squidDir = join(dir, "squid");
    mkdirSync(squidDir, { mode: 0o777 });
    const squidConf = join(dir, "squid.conf");
    writeFileSync(
      squidConf,
      [`http_port 127.0.0.1:${squidPort}`, "acl localnet src 127.0.0.1", "http_access allow localnet", "http_access deny all", "cache deny all", "access_log none", `cache_log ${join(squidDir, "cache.log")}`, `pid_filename ${join(squidDir, "squid.pid")}`, `coredump_dir ${squidDir}`, "shutdown_lifetime 0 seconds", "via off", "forwarded_for delete"].join("\n"),
    );
    await requireProgram("squid", "apt-get install squid");
    children.push(startQuiet(["squid", "-N", "-f", squidConf]));

    await Promise.all([paddockPort, tinyPort, squidPort].map((p) => waitForPort(p)));
    const auth = `Basic ${Buffer.from(`bench:${token}`).toString("base64")}`;
    const targets = [
      { name: "no proxy (direct to origin)", port: originPort, proxied: false },
      { name: "paddock egress", port: paddockPort, proxied: true, auth },
      { name: "tinyproxy 1.11", port: tinyPort, proxied: true },
      { name: "squid 5", port: squidPort, proxied: true },
    ];

    console.log(`\nsmall GETs (64-byte body), wrk 1 thread, ${connections} connections, ${duration}s each, after a 1s warm-up`);
    console.log(`${"".padEnd(30)}${"req/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
    const results = new Map<string, { rps: number; p50: number; p99: number }>();
    for (const t of targets) {
      const script = join(dir, `${t.port}.lua`);
      const headers = [`wrk.headers["Host"] = "127.0.0.1:${originPort}"`, ...(t.auth ? [`wrk.headers["Proxy-Authorization"] = "${t.auth}"`] : [])];
      writeFileSync(script, `${t.proxied ? `wrk.path = "http://127.0.0.1:${originPort}/"\n` : ""}${headers.join("\n")}\n`);
      const args = ["-t1", `-c${connections}`, "--latency", "-s", script, `http://127.0.0.1:${t.port}/`];
      await run("wrk", [...args.slice(0, 1), "-d1s", ...args.slice(1)]);
      const { stdout } = await run("wrk", [...args.slice(0, 1), `-d${duration}s`, ...args.slice(1)]);
      const r = parseWrk(stdout);
      results.set(t.name, r);
      console.log(`${t.name.padEnd(30)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(10)}`);
    }
    const paddock = results.get("paddock egress")!;
    const tiny = results.get("tinyproxy 1.11")!;
    const squid = results.get("squid 5")!;
    console.log(`\nthroughput paddock / tinyproxy: ${(paddock.rps / tiny.rps).toFixed(2)} (target >= 1.00): ${paddock.rps >= tiny.rps ? "met" : "NOT met"}`);
    console.log(`throughput paddock / squid:     ${(paddock.rps / squid.rps).toFixed(2)}`);
    console.log(`p99 paddock / squid:            ${(paddock.p99 / squid.p99).toFixed(2)} (target <= 1.00): ${paddock.p99 <= squid.p99 ? "met" : "NOT met"}`);

    const n = Number(process.env.BENCH_N ?? 300);
    console.log(`\nCONNECT tunnel setup, ${n} sequential tunnels to the origin's port`);
    console.log(`${"".padEnd(30)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
    for (const t of targets.filter((x) => x.proxied)) {
      const samples = await sample(n, () => connectTime(t.port, `127.0.0.1:${originPort}`, t.auth));
      console.log(`${t.name.padEnd(30)}${percentile(samples, 50).toFixed(3).padStart(10)}${percentile(samples, 99).toFixed(3).padStart(10)}`);
    }
  } finally {
    for (const child of children) child.kill("SIGTERM");
  }
}

function parseWrk(out: string): { rps: number; p50: number; p99: number } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const pct = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) throw new Error(`no ${p}% in wrk output:\n${out}`);
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]!;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  if (errors) throw new Error(`wrk saw ${errors} error responses:\n${out}`);
  return { rps, p50: pct("50"), p99: pct("99") };
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

async function requireProgram(name: string, install: string): Promise<void> {
  try {
    await run("sh", ["-c", `command -v ${name}`]);
  } catch {
    throw new Error(`the egress benchmark needs ${name}: ${install}`);
  }
}
