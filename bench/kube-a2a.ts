import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sendTask, workerClient } from "../src/a2a/index.js";
import { kubeClients, NAMESPACES, PodCommand, type PodPlace } from "../src/kube/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { ScriptedModel } from "../src/scripted/index.js";
import { callDaemon } from "../src/supervisor/index.js";
import { CLI, ROOT } from "../test/helpers.js";
import { startCluster } from "../test/kube-helpers.js";
import { percentile } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const CONTRACT = `{"outcome":"COMPLETE","summary":"ok"}`;

/**
 * An A2A worker's task on a cluster, end to end: sent over A2A to `paddock up --kube --gateway`, run in the worker's
 * pod through pods/exec (a task key minted and revoked, the workspace read before and after in the pod, the agent
 * started by paddock's launcher), its result back to the client; against the same command exec'd in the same pod
 * straight through the API (the floor). A real control plane with kwok running what is exec'd; tasks one at a time.
 */
export async function main(): Promise<void> {
  const upstream = await new ScriptedModel({ model: "m" }).listen();
  const inPod = join(process.env.TMPDIR ?? "/tmp", `paddock-bench-kube-a2a-${process.pid}`);
  mkdirSync(inPod, { recursive: true });
  const cluster = await startCluster({ nodes: 1, agentExec: inPod, agentExecEnv: { PATH: process.env.PATH!, PADDOCK_LIB: join(ROOT, "dist", "src"), PADDOCK_WORKSPACE: inPod } });
  try {
    cluster.kubectl(["create", "namespace", NAMESPACES.agents]);
    cluster.kubectl(["create", "serviceaccount", "paddock-agent", "-n", NAMESPACES.agents]);
    const config = join(cluster.dir, "paddock.yaml");
    writeFileSync(config, `model_list:\n  - model_name: m\n    litellm_params: { model: openai/m, api_base: "${upstream.url}" }\npaddock_settings: { listen: "127.0.0.1:0" }\n`);
    const cardFile = join(cluster.dir, "worker.json");
    writeFileSync(cardFile, JSON.stringify({ agent_id: "worker", kind: "command", command: ["sh", "-c", `echo '${CONTRACT}'`], workspace: inPod }));
    const env = { ...process.env, ...cluster.env };
    process.env.KUBECONFIG = cluster.kubeconfig;
    const paths = paddockPaths(env);
    const daemon = spawn(process.execPath, [CLI, "up", "--kube", "--kube-objects", "pod", "--gateway", config, "--no-dashboard"], { env, stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        daemon.stdout!.on("data", (d: Buffer) => d.toString().includes("paddock is up") && resolve());
        daemon.once("exit", (code) => reject(new Error(`paddock up --kube exited with ${code}`)));
      });
      const spawned = await callDaemon(paths, "POST", "/v1/agents", { card_path: cardFile, a2a: true });
      if (spawned.status !== 201) throw new Error(`spawn: ${JSON.stringify(spawned.value)}`);
      const { a2a } = spawned.value as { a2a: { url: string; token: string } };
      const pod = ((await callDaemon(paths, "GET", "/v1/agents/worker")).value as { pod: PodPlace }).pod;
      const client = await workerClient(a2a.url, a2a.token);
      const tasks: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const t = performance.now();
        const outcome = await sendTask(client, "go");
        if (outcome.state !== "completed") throw new Error(`task ${i}: ${outcome.state}: ${outcome.summary}`);
        tasks.push(performance.now() - t);
      }
      const clients = await kubeClients(undefined);
      const execs: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const t = performance.now();
        const command = new PodCommand(clients, pod, ["sh", "-c", `echo '${CONTRACT}'`], "bwrap");
        await command.start();
        command.stdout.resume();
        const exit = await command.wait();
        if (exit.code !== 0) throw new Error(`exec ${i}: ${JSON.stringify(exit)}`);
        execs.push(performance.now() - t);
      }
      const row = (label: string, times: number[]) => `${label.padEnd(48)} p50 ${percentile(times, 50).toFixed(0).padStart(5)} ms   p99 ${percentile(times, 99).toFixed(0).padStart(5)} ms`;
      console.log(`\n${ROUNDS} tasks, one at a time, of a command agent printing its result, in one worker's pod`);
      console.log(row("the command exec'd in the pod through the API", execs));
      console.log(row("an A2A task through paddock up --kube", tasks));
      console.log(`paddock's task / bare exec, p50: ${(percentile(tasks, 50) / percentile(execs, 50)).toFixed(2)}   p99: ${(percentile(tasks, 99) / percentile(execs, 99)).toFixed(2)}`);
    } finally {
      daemon.kill("SIGTERM");
      await new Promise((resolve) => daemon.once("exit", resolve));
    }
  } finally {
    await cluster.stop();
    await upstream.close();
  }
}
