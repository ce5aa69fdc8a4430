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
import { benchPeers, lua, wrk, type WrkResult } from "./wrk.js";

/**
 * The gateway's own cost: small non-streaming chats at fixed concurrency
 * straight to the scripted upstream and through the gateway (virtual key,
 * budget, token cap, usage rows; a small prompt's upper bound fits the window,
 * as an agent's early turns do, so no count is asked of the upstream), time to
 * first streamed byte, and the cost of counting a 100K-token prompt.
 */
export async function main(): Promise<void> {
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-gw-"));
  await benchPeers(ROOT);
  const children: ChildProcess[] = [];
  try {
    const start = async (delayMs: number, profileDir?: string) => {
      const upstream = await startPrinting([process.execPath, join(ROOT, "dist", "bench", "scripted-upstream.js")], { ...process.env, UPSTREAM_DELAY_MS: String(delayMs) });
      children.push(upstream.child);
      const upstreamPort = Number(upstream.line);
      const gatewayPort = await freePort();
      const config = join(dir, `gateway-${delayMs}.yaml`);
      writeFileSync(config, JSON.stringify({ model_list: [{ model_name: "bench", litellm_params: { model: "openai/bench", api_base: `http://127.0.0.1:${upstreamPort}/v1` } }], general_settings: { master_key: "sk-master" }, paddock_settings: { listen: `127.0.0.1:${gatewayPort}` } }));
      // Profiled from the unbundled modules, so each sample names paddock's own file (or the library) it fell in.
      const cli = profileDir ? join(ROOT, "dist", "src", "cli", "main.js") : CLI;
      const gateway = startQuiet([process.execPath, ...(profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []), cli, "gateway", "--config", config], { ...process.env, PADDOCK_HOME: join(dir, `home-${delayMs}`) });
      children.push(gateway);
      await waitForPort(gatewayPort);
      const generated = await fetch(`http://127.0.0.1:${gatewayPort}/key/generate`, { method: "POST", headers: { Authorization: "Bearer sk-master" }, body: JSON.stringify({ models: ["bench"] }) });
      const { key } = (await generated.json()) as { key: string };
      const bare = await startPrinting([process.execPath, join(ROOT, "dist", "bench", "node-proxy.js")], { ...process.env, UPSTREAM: `http://127.0.0.1:${upstreamPort}` });
      children.push(bare.child);
      return { upstreamPort, gatewayPort, barePort: Number(bare.line), key, gateway, dir };
    };
    const instant = await start(0);
    await run(instant, seconds, concurrency, "an upstream that answers at once");
    // Then a second gateway at an instant upstream, under V8's sampling profiler (which slows it, so it is not in the figures above).
    const profileDir = join(dir, "profile");
    const profiled = await start(0, profileDir);
    await compare(profiled, seconds, concurrency, "the same, the gateway profiled", 0.5);
    profiled.gateway.kill("SIGTERM");
    await new Promise((resolve) => profiled.gateway.once("exit", resolve));
    console.log(`\nwhere the profiled gateway's CPU time went:\n${summarizeProfile(profileDir)}`);
    const decoding = await start(10);
    await compare(decoding, seconds, concurrency, "an upstream that takes 10 ms per answer, as a small model decoding a short reply", 0.8);
    await countingCost(instant.upstreamPort);
  } finally {
    for (const child of children) child.kill("SIGTERM");
  }
}

interface Ports {
  upstreamPort: number;
  gatewayPort: number;
  barePort: number;
  key: string;
  /** Where wrk's scripts go. */
  dir: string;
}

async function run(ports: Ports, seconds: number, concurrency: number, label: string): Promise<void> {
  const { direct, through } = await compare(ports, seconds, concurrency, label, 0.5);
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

/**
 * Non-streaming chats straight to the upstream, through a bare Node proxy (the
 * floor of Node's HTTP stack) and through the gateway, with wrk (one thread, as
 * the peers are measured), best of two rounds each.
 */
async function compare(ports: Ports, seconds: number, concurrency: number, label: string, target: number): Promise<{ direct: Target; through: Target }> {
  const body = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello there" }], max_tokens: 32000 });
  const targets: Array<[string, Target]> = [
    ["direct to upstream", { port: ports.upstreamPort, path: "/v1/chat/completions", auth: "" }],
    ["bare Node proxy", { port: ports.barePort, path: "/v1/chat/completions", auth: "" }],
    ["through the gateway", { port: ports.gatewayPort, path: "/v1/chat/completions", auth: `Bearer ${ports.key}` }],
  ];
  const rows: Array<[string, WrkResult]> = [];
  for (let round = 0; round < 2; round++) {
    for (const [name, t] of targets) {
      const lines = [`wrk.method = "POST"`, `wrk.body = ${lua(body)}`, `wrk.headers["Content-Type"] = "application/json"`, ...(t.auth ? [`wrk.headers["Authorization"] = ${lua(t.auth)}`] : [])];
      rows.push([name, await wrk({ url: `http://127.0.0.1:${t.port}${t.path}`, script: { file: join(ports.dir, `${t.port}.lua`), lines }, connections: concurrency, seconds })]);
    }
  }
  const best = (name: string) => rows.filter(([n]) => n === name).map(([, r]) => r).sort((a, b) => b.rps - a.rps)[0]!;
  console.log(`\nnon-streaming chat against ${label}: wrk, ${concurrency} connections, ${seconds}s (best of 2 rounds)`);
  console.log(`${"".padEnd(24)}${"req/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
  for (const [name] of targets) {
    const r = best(name);
    console.log(`${name.padEnd(24)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(3).padStart(10)}${r.p99.toFixed(3).padStart(10)}`);
  }
  const [d, b, g] = targets.map(([name]) => best(name));
  console.log(`added latency p50: ${(g!.p50 - d!.p50).toFixed(3)} ms (target < 1 ms), p99: ${(g!.p99 - d!.p99).toFixed(3)} ms`);
  console.log(`throughput through / direct: ${(g!.rps / d!.rps).toFixed(2)} (target >= ${target.toFixed(2)}): ${g!.rps / d!.rps >= target ? "met" : "NOT met"}`);
  console.log(`bare Node proxy / direct: ${(b!.rps / d!.rps).toFixed(2)}; the gateway / bare Node proxy: ${(g!.rps / b!.rps).toFixed(2)} (what keys, budgets, the token cap and usage rows cost)`);
  return { direct: targets[0]![1], through: targets[2]![1] };
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

const agent = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 64 });

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
