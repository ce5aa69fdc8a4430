import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseGatewayConfig } from "../src/gateway/index.js";
import { CLI, freePort, ROOT, waitForPort } from "../test/helpers.js";
import { startPrinting, startQuiet } from "./processes.js";
import { summarizeProfile } from "./profile.js";
import { percentile } from "./stats.js";

/**
 * The gateway's own cost: small non-streaming chats at fixed concurrency
 * straight to the scripted upstream and through the gateway (virtual key, token
 * cap with the upstream's tokenizer, usage rows), time to first streamed byte,
 * and the cost of counting a 100K-token prompt.
 */
export async function main(): Promise<void> {
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
  const total = Number(process.env.BENCH_N ?? 4000);
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-gw-"));
  const children: ChildProcess[] = [];
  try {
    const start = async (delayMs: number, profileDir?: string) => {
      const upstream = await startPrinting([process.execPath, join(ROOT, "dist", "bench", "scripted-upstream.js")], { ...process.env, UPSTREAM_DELAY_MS: String(delayMs) });
      children.push(upstream.child);
      const upstreamPort = Number(upstream.line);
      const gatewayPort = await freePort();
      const config = join(dir, `gateway-${delayMs}.yaml`);
      writeFileSync(config, JSON.stringify({ model_list: [{ model_name: "bench", litellm_params: { model: "openai/bench", api_base: `http://127.0.0.1:${upstreamPort}/v1` } }], general_settings: { master_key: "sk-master" }, paddock_settings: { listen: `127.0.0.1:${gatewayPort}` } }));
      const gateway = startQuiet([process.execPath, ...(profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []), CLI, "gateway", "--config", config], { ...process.env, PADDOCK_HOME: join(dir, `home-${delayMs}`) });
      children.push(gateway);
      await waitForPort(gatewayPort);
      const generated = await fetch(`http://127.0.0.1:${gatewayPort}/key/generate`, { method: "POST", headers: { Authorization: "Bearer sk-master" }, body: JSON.stringify({ models: ["bench"] }) });
      const { key } = (await generated.json()) as { key: string };
      return { upstreamPort, gatewayPort, key, gateway };
    };
    // The gateway at an instant upstream runs under V8's sampling profiler: where its time goes is printed after its figures.
    const profileDir = join(dir, "profile");
    const instant = await start(0, profileDir);
    await run(instant.upstreamPort, instant.gatewayPort, instant.key, total, concurrency, "an upstream that answers at once");
    instant.gateway.kill("SIGTERM");
    await new Promise((resolve) => instant.gateway.once("exit", resolve));
    console.log(`\nwhere the gateway's CPU time went during these runs (V8 CPU profile; the profiler itself slows it a little):\n${summarizeProfile(profileDir)}`);
    const decoding = await start(10);
    await compare(decoding.upstreamPort, decoding.gatewayPort, decoding.key, Math.min(total, 800), concurrency, "an upstream that takes 10 ms per answer, as a small model decoding a short reply");
    await countingCost(instant.upstreamPort);
  } finally {
    for (const child of children) child.kill("SIGTERM");
  }
}

async function run(upstreamPort: number, port: number, key: string, total: number, concurrency: number, label: string): Promise<void> {
  const { direct, through } = await compare(upstreamPort, port, key, total, concurrency, label);
  const streamBody = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello there" }], stream: true });
  const ttfb = async (target: typeof direct) => {
    const samples: number[] = [];
    for (let i = 0; i < 300; i++) samples.push(await firstByte(target, streamBody));
    return samples;
  };
  const dt = await ttfb(direct);
  const gt = await ttfb(through);
  console.log(`\nstreaming, time to first byte (300 sequential)`);
  console.log(`direct p50 ${percentile(dt, 50).toFixed(3)} ms, through the gateway p50 ${percentile(gt, 50).toFixed(3)} ms: added ${(percentile(gt, 50) - percentile(dt, 50)).toFixed(3)} ms (p99 added ${(percentile(gt, 99) - percentile(dt, 99)).toFixed(3)} ms)`);
}

/** Non-streaming chats straight to the upstream and through the gateway, best of two rounds each. */
async function compare(upstreamPort: number, port: number, key: string, total: number, concurrency: number, label: string): Promise<{ direct: Target; through: Target }> {
  const body = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello there" }], max_tokens: 32000 });
  const direct = { port: upstreamPort, path: "/v1/chat/completions", auth: "" };
  const through = { port, path: "/v1/chat/completions", auth: `Bearer ${key}` };
  // Warm both paths (connection pools, JIT).
  await load(direct, body, 200, concurrency);
  await load(through, body, 200, concurrency);
  const rows: Array<[string, Awaited<ReturnType<typeof load>>]> = [];
  for (let round = 0; round < 2; round++) {
    rows.push(["direct to upstream", await load(direct, body, total, concurrency)]);
    rows.push(["through the gateway", await load(through, body, total, concurrency)]);
  }
  const best = (name: string) => rows.filter(([n]) => n === name).map(([, r]) => r).sort((a, b) => b.rps - a.rps)[0]!;
  const d = best("direct to upstream");
  const g = best("through the gateway");
  console.log(`\nnon-streaming chat against ${label}: ${total} requests, concurrency ${concurrency} (best of 2 rounds)`);
  console.log(`${"".padEnd(24)}${"req/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
  for (const [name, r] of [["direct to upstream", d], ["through the gateway", g]] as const) console.log(`${name.padEnd(24)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(3).padStart(10)}${r.p99.toFixed(3).padStart(10)}`);
  console.log(`added latency p50: ${(g.p50 - d.p50).toFixed(3)} ms (target < 1 ms), p99: ${(g.p99 - d.p99).toFixed(3)} ms`);
  console.log(`throughput through / direct: ${(g.rps / d.rps).toFixed(2)} (target >= 0.80): ${g.rps / d.rps >= 0.8 ? "met" : "NOT met"}`);
  return { direct, through };
}

/** Counting a 100K-token prompt, by the upstream's /tokenize and by the bundled tokenizer. */
async function countingCost(upstreamPort: number): Promise<void> {
  const { countChatInput } = await import("../src/gateway/tokens.js");
  const { Router } = await import("../src/gateway/router.js");
  const router = new Router(parseGatewayConfig({ model_list: [{ model_name: "bench", litellm_params: { model: "openai/bench", api_base: `http://127.0.0.1:${upstreamPort}/v1` } }] }));
  const deployment = router.all()[0]!;
  const prompt = { messages: [{ role: "user", content: "token ".repeat(100_000) }] };
  for (const method of ["upstream", "bundled"] as const) {
    deployment.tokenizer = method === "upstream" ? "vllm" : "none";
    await countChatInput(deployment, prompt);
    const times: number[] = [];
    let counted = 0;
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      counted = (await countChatInput(deployment, prompt)).tokens;
      times.push(performance.now() - started);
    }
    console.log(`counting a 100K-token prompt (${method === "upstream" ? "upstream /tokenize" : "bundled o200k tokenizer"}): p50 ${percentile(times, 50).toFixed(1)} ms (${counted} tokens)`);
  }
}

interface Target {
  port: number;
  path: string;
  auth: string;
}

async function load(target: Target, body: string, total: number, concurrency: number): Promise<{ rps: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const t = performance.now();
        await call(target, body);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { rps: total / ((performance.now() - started) / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const agent = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 64 });

function call(target: Target, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: target.port, path: target.path, method: "POST", agent, headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), ...(target.auth ? { Authorization: target.auth } : {}) } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.resume();
      res.on("end", resolve);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function firstByte(target: Target, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: "127.0.0.1", port: target.port, path: target.path, method: "POST", agent, headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), ...(target.auth ? { Authorization: target.auth } : {}) } }, (res) => {
      res.once("data", () => resolve(performance.now() - started));
      res.resume();
    });
    req.on("error", reject);
    req.end(body);
  });
}
