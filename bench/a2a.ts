import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendTask, startWorkerServer, workerClient, type WorkerServer } from "../src/a2a/index.js";
import { CardSchema } from "../src/card/index.js";
import { startLocal } from "../src/local/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { ScriptedModel } from "../src/scripted/index.js";
import { percentile } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const WORKERS = 10;

/**
 * A2A dispatch: the same trivial task (a command agent printing its result)
 * run by the executor in process and sent to an A2A worker over JSON-RPC
 * streaming (the SDK's client and server); the delay of a streamed event from
 * the agent's output to the client; and ten workers at once against one.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-a2a-"));
  const upstream = await new ScriptedModel({ model: "qwen-coder" }).listen();
  const config = join(dir, "paddock.yaml");
  writeFileSync(config, `model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: "${upstream.url}" }\n`);
  const paths = paddockPaths({ PADDOCK_HOME: join(dir, "home") });
  mkdirSync(paths.runtime, { recursive: true });
  const local = await startLocal({ configFile: config, paths });
  const card = (i: number, script: string) => {
    const workspace = join(dir, `ws-${i}`);
    mkdirSync(workspace, { recursive: true });
    return CardSchema.parse({ agent_id: `bench-${i}`, workspace, kind: "command", command: ["sh", "-c", script], tools: ["sh", "coreutils"] });
  };
  const trivial = `echo '{"outcome":"COMPLETE","summary":"ok"}'`;
  // Prints its clock, waits, then ends: the event's delay is the client's clock on arrival minus the printed one.
  const stamped = `date +%s%N; sleep 0.3; echo '{"outcome":"COMPLETE","summary":"ok"}'`;
  const servers: WorkerServer[] = [];
  try {
    const inProcess: number[] = [];
    const overA2A: number[] = [];
    const delays: number[] = [];
    /** Per A2A task: the client's wall time minus the run's own duration as the executor recorded it. */
    const layer: number[] = [];
    const one = card(0, trivial);
    const server = await startWorkerServer({ card: one, executor: local.executor });
    servers.push(server);
    const client = await workerClient(server.url, server.token);
    const stampedServer = await startWorkerServer({ card: card(99, stamped), executor: local.executor });
    servers.push(stampedServer);
    const stampedClient = await workerClient(stampedServer.url, stampedServer.token);
    for (let round = 0; round <= ROUNDS; round++) {
      // Alternating which goes first, so that neither always runs on a warmer machine.
      const runDirect = async () => {
        const t = performance.now();
        await local.executor.run({ card: one, prompt: "bench" });
        return performance.now() - t;
      };
      const runA2A = async () => {
        const t = performance.now();
        const outcome = await sendTask(client, "bench");
        const wall = performance.now() - t;
        if (outcome.state !== "completed") throw new Error(`the A2A task ended ${outcome.state}: ${outcome.summary}`);
        const run = await local.store.getRun(outcome.run_id!);
        layer.push(wall - run!.duration_ms!);
        return wall;
      };
      let direct: number;
      let a2a: number;
      if (round % 2) {
        direct = await runDirect();
        a2a = await runA2A();
      } else {
        a2a = await runA2A();
        direct = await runDirect();
      }
      let delay: number | undefined;
      await sendTask(stampedClient, "bench", {
        onEvent: (e) => {
          const printed = /^(\d{19})$/m.exec(e.text ?? "")?.[1];
          if (printed && delay === undefined) delay = performance.timeOrigin + performance.now() - Number(BigInt(printed) / 1000n) / 1000;
        },
      });
      if (round === 0) continue;
      inProcess.push(direct);
      overA2A.push(a2a);
      if (delay !== undefined) delays.push(delay);
    }
    const parallel = await Promise.all(Array.from({ length: WORKERS }, (_, i) => startWorkerServer({ card: card(i + 1, `sleep 0.5; ${trivial}`), executor: local.executor })));
    servers.push(...parallel);
    const clients = await Promise.all(parallel.map((s) => workerClient(s.url, s.token)));
    let t = performance.now();
    await sendTask(clients[0]!, "bench");
    const single = performance.now() - t;
    t = performance.now();
    const outcomes = await Promise.all(clients.map((c) => sendTask(c, "bench")));
    const ten = performance.now() - t;
    if (outcomes.some((o) => o.state !== "completed")) throw new Error("a parallel task failed");

    const p = (xs: number[], q: number) => percentile(xs, q).toFixed(1);
    console.log(`a2a: ${ROUNDS} rounds of a trivial command-agent task (each in a fresh bwrap sandbox)`);
    console.log(`  executor in process          p50 ${p(inProcess, 50).padStart(7)} ms   p99 ${p(inProcess, 99).padStart(7)} ms`);
    console.log(`  over A2A (JSON-RPC, SSE)     p50 ${p(overA2A, 50).padStart(7)} ms   p99 ${p(overA2A, 99).padStart(7)} ms`);
    console.log(`  dispatch overhead            ${(percentile(overA2A, 50) - percentile(inProcess, 50)).toFixed(1)} ms at p50 (${(percentile(overA2A, 50) / percentile(inProcess, 50)).toFixed(2)}x)`);
    console.log(`  A2A layer alone (client wall time minus the executor's own run time): p50 ${p(layer, 50)} ms, p99 ${p(layer, 99)} ms`);
    console.log(`  streamed event, agent's output to the A2A client: p50 ${p(delays, 50)} ms, p99 ${p(delays, 99)} ms (${delays.length} samples)`);
    console.log(`  ${WORKERS} workers in parallel (0.5 s tasks): ${ten.toFixed(0)} ms against one worker's ${single.toFixed(0)} ms (${(ten / single).toFixed(2)}x)`);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await local.close();
    await upstream.close();
  }
}
