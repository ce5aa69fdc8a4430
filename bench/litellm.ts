import Anthropic from "@anthropic-ai/sdk";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { CLI, freePort, ROOT, waitForPort } from "../test/helpers.js";
import { startPrinting, startQuiet } from "./processes.js";
import { benchPeers, lua, wrk, type WrkResult } from "./wrk.js";

interface Gateways {
  upstream: number;
  paddock: number;
  litellm: number;
}

const MASTER = "sk-master";

/**
 * paddock's gateway against LiteLLM's proxy, both started from the same
 * LiteLLM config file, in front of the same scripted upstream, loaded by the
 * same wrk: throughput and added latency with an upstream that answers at once
 * and one that takes 10 ms; then what the official OpenAI and Anthropic clients
 * see from each, every difference listed.
 */
export async function main(): Promise<void> {
  const peers = await benchPeers(ROOT);
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-litellm-"));
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const children: ChildProcess[] = [];
  try {
    const start = async (delayMs: number): Promise<Gateways> => {
      const upstream = await startPrinting([process.execPath, join(ROOT, "dist", "bench", "scripted-upstream.js")], { ...process.env, UPSTREAM_DELAY_MS: String(delayMs) });
      children.push(upstream.child);
      const config = join(dir, `config-${delayMs}.yaml`);
      // One file for both: LiteLLM's own format, nothing paddock-only in it.
      writeFileSync(config, `model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n      api_base: http://127.0.0.1:${upstream.line}/v1\n      api_key: none\ngeneral_settings:\n  master_key: ${MASTER}\n`);
      const [paddock, litellm] = [await freePort(), await freePort()];
      children.push(startQuiet([process.execPath, CLI, "gateway", "--config", config, "--listen", `127.0.0.1:${paddock}`], { ...process.env, PADDOCK_HOME: join(dir, `home-${delayMs}`) }));
      process.stderr.write(`starting LiteLLM ${peers.LITELLM_VERSION} (it takes a while to import)...\n`);
      children.push(startQuiet([peers.LITELLM!, "--config", config, "--host", "127.0.0.1", "--port", String(litellm)], { ...process.env, LITELLM_LOG: "ERROR" }));
      await waitForPort(paddock);
      await waitForPort(litellm, 180_000);
      return { upstream: Number(upstream.line), paddock, litellm };
    };
    const instant = await start(0);
    await compare(instant, dir, seconds, "an upstream that answers at once");
    await compatibility(instant);
    const decoding = await start(10);
    await compare(decoding, dir, seconds, "an upstream that takes 10 ms per answer");
  } finally {
    for (const child of children) child.kill("SIGTERM");
  }
}

async function compare(g: Gateways, dir: string, seconds: number, label: string): Promise<void> {
  const body = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello there" }], max_tokens: 100 });
  const script = (port: number) => ({ file: join(dir, `chat-${port}.lua`), lines: ['wrk.method = "POST"', `wrk.body = ${lua(body)}`, 'wrk.headers["Content-Type"] = "application/json"', `wrk.headers["Authorization"] = "Bearer ${MASTER}"`] });
  const targets = [
    ["direct to upstream", g.upstream],
    ["paddock gateway", g.paddock],
    ["LiteLLM proxy", g.litellm],
  ] as const;
  const load = new Map<string, WrkResult>();
  const single = new Map<string, WrkResult>();
  for (const [name, port] of targets) {
    load.set(name, await wrk({ url: `http://127.0.0.1:${port}/v1/chat/completions`, script: script(port), connections: 8, seconds }));
    single.set(name, await wrk({ url: `http://127.0.0.1:${port}/v1/chat/completions`, script: script(port), connections: 1, seconds }));
  }
  console.log(`\nnon-streaming chat against ${label}: wrk 1 thread, ${seconds}s each; throughput at 8 connections, latency at 1`);
  console.log(`${"".padEnd(22)}${"req/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"added p50".padStart(12)}${"added p99".padStart(12)}`);
  const direct = single.get("direct to upstream")!;
  for (const [name] of targets) {
    const l = load.get(name)!;
    const s = single.get(name)!;
    console.log(`${name.padEnd(22)}${l.rps.toFixed(0).padStart(10)}${s.p50.toFixed(2).padStart(10)}${s.p99.toFixed(2).padStart(10)}${(s.p50 - direct.p50).toFixed(2).padStart(12)}${(s.p99 - direct.p99).toFixed(2).padStart(12)}`);
  }
  const p = { load: load.get("paddock gateway")!, single: single.get("paddock gateway")! };
  const l = { load: load.get("LiteLLM proxy")!, single: single.get("LiteLLM proxy")! };
  const throughput = p.load.rps / l.load.rps;
  const added = (x: WrkResult) => Math.max(x.p50 - direct.p50, 0.001);
  const latency = added(p.single) / added(l.single);
  console.log(`throughput paddock / LiteLLM: ${throughput.toFixed(1)}x (target >= 5x): ${throughput >= 5 ? "met" : "NOT met"}`);
  console.log(`added latency p50 paddock / LiteLLM: ${latency.toFixed(3)} (target <= 0.2): ${latency <= 0.2 ? "met" : "NOT met"}`);
}

/** One observation per check on each gateway, as text, so the two can be compared and listed. */
type Check = [string, (port: number) => Promise<string>];

async function compatibility(g: Gateways): Promise<void> {
  const openai = (port: number, apiKey = MASTER) => new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0 });
  const anthropic = (port: number) => new Anthropic({ baseURL: `http://127.0.0.1:${port}`, apiKey: MASTER, maxRetries: 0 });
  const outcome = async (run: () => Promise<string>) => run().catch((err: unknown) => `error ${(err as { status?: number }).status ?? ""} ${String((err as Error).message).slice(0, 90).replace(/\s+/g, " ")}`.trim());
  const messages = [{ role: "user" as const, content: "hello there" }];
  const checks: Check[] = [
    ["OpenAI client: models.list ids", (port) => outcome(async () => (await openai(port).models.list()).data.map((m) => m.id).join(","))],
    [
      "OpenAI client: chat, non-streaming",
      (port) => outcome(async () => {
        const r = await openai(port).chat.completions.create({ model: "bench", messages });
        return `${r.object} "${r.choices[0]?.message.content}" finish=${r.choices[0]?.finish_reason} usage=${r.usage ? "yes" : "no"}`;
      }),
    ],
    [
      "OpenAI client: chat, streaming with usage",
      (port) => outcome(async () => {
        const stream = await openai(port).chat.completions.create({ model: "bench", messages, stream: true, stream_options: { include_usage: true } });
        let text = "";
        let usage = false;
        let finish = "";
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? "";
          finish ||= chunk.choices[0]?.finish_reason ?? "";
          usage ||= !!chunk.usage;
        }
        return `"${text}" finish=${finish} usage=${usage ? "yes" : "no"}`;
      }),
    ],
    ["OpenAI client: wrong key", (port) => outcome(async () => JSON.stringify(await openai(port, "sk-wrong").chat.completions.create({ model: "bench", messages })))],
    ["OpenAI client: unknown model", (port) => outcome(async () => JSON.stringify(await openai(port).chat.completions.create({ model: "no-such-model", messages })))],
    [
      "Anthropic client: messages, non-streaming",
      (port) => outcome(async () => {
        const r = await anthropic(port).messages.create({ model: "bench", max_tokens: 50, messages });
        return `${r.type} "${r.content.map((c) => (c.type === "text" ? c.text : c.type)).join("")}" stop=${r.stop_reason}`;
      }),
    ],
    [
      "Anthropic client: messages, streaming",
      (port) => outcome(async () => {
        const message = await anthropic(port).messages.stream({ model: "bench", max_tokens: 50, messages }).finalMessage();
        return `"${message.content.map((c) => (c.type === "text" ? c.text : c.type)).join("")}" stop=${message.stop_reason}`;
      }),
    ],
    [
      "/key/generate, then chat with the key",
      (port) => outcome(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/key/generate`, { method: "POST", headers: { Authorization: `Bearer ${MASTER}`, "Content-Type": "application/json" }, body: JSON.stringify({ models: ["bench"] }) });
        const json = (await res.json()) as { key?: string; error?: { message?: string } };
        if (!json.key) return `${res.status} ${String(json.error?.message ?? "").slice(0, 90)}`;
        const r = await openai(port, json.key).chat.completions.create({ model: "bench", messages });
        return `${res.status} key=sk-… chat "${r.choices[0]?.message.content}"`;
      }),
    ],
  ];
  console.log("\ncompatibility: the same requests through the official clients (openai, @anthropic-ai/sdk) to each gateway");
  const differences: string[] = [];
  for (const [name, check] of checks) {
    const [p, l] = [await check(g.paddock), await check(g.litellm)];
    const same = p === l;
    console.log(`${same ? "same   " : "DIFFERS"}  ${name}\n         paddock: ${p}\n         LiteLLM: ${l}`);
    if (!same) differences.push(name);
  }
  console.log(`\n${differences.length} difference(s)${differences.length ? `: ${differences.join("; ")}` : ""}`);
}
