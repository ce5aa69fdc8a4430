import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CardSchema } from "../src/card/index.js";
import { agentPod, kubeClients, NAMESPACES, WARM_KEY_LINE, warmKeys } from "../src/kube/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { callDaemon } from "../src/supervisor/index.js";
import { CLI } from "../test/helpers.js";
import { startCluster, type Cluster } from "../test/kube-helpers.js";
import { percentile } from "./stats.js";

const AGENTS = Number(process.env.BENCH_AGENTS ?? 50);
const IN_FLIGHT = 10;

/**
 * Spawn-to-running for 50 agents on a real control plane (kube-apiserver, etcd, scheduler, kwok's nodes playing the
 * kubelets): through `paddock up --kube` as plain pods and as agent-sandbox Sandboxes, against the same pods created
 * straight through the API and watched until Running (what paddock adds, as a ratio); and Sandboxes claimed from a
 * warm pool of 50 (`warm: 50`, filled before the clock starts) against Sandboxes made cold. Ten spawns in flight.
 * kwok runs no container: every pod's output is a waiter's key line, so a claimed pod's launch is sealed as for real.
 */
export async function main(): Promise<void> {
  const keyLog = join(process.env.TMPDIR ?? "/tmp", `paddock-bench-warm-key-${process.pid}.log`);
  writeFileSync(keyLog, `${new Date().toISOString().replace(/Z$/, "000000Z")} stdout F ${WARM_KEY_LINE}${warmKeys().publicKey}\n`);
  const cluster = await startCluster({ nodes: 3, agentSandbox: true, agentLogs: keyLog });
  try {
    cluster.kubectl(["create", "namespace", NAMESPACES.agents]);
    cluster.kubectl(["label", "namespace", NAMESPACES.agents, "pod-security.kubernetes.io/enforce=restricted"]);
    cluster.kubectl(["create", "serviceaccount", "paddock-agent", "-n", NAMESPACES.agents]);
    const workspace = join(cluster.dir, "ws");
    mkdirSync(workspace);
    const cardFile = join(cluster.dir, "sleeper.json");
    const card = { agent_id: "sleeper", kind: "command", command: ["sleep", "3600"], workspace };
    writeFileSync(cardFile, JSON.stringify(card));
    const warmFile = join(cluster.dir, "warm-sleeper.json");
    writeFileSync(warmFile, JSON.stringify({ ...card, warm: AGENTS }));

    process.env.KUBECONFIG = cluster.kubeconfig;
    const direct = await directPods(CardSchema.parse(card));
    const pods = await throughPaddock(cluster, cardFile, "pod");
    const sandboxes = await throughPaddock(cluster, cardFile, "sandbox");
    const warm = await throughPaddock(cluster, warmFile, "sandbox", true);

    const row = (label: string, times: number[], total: number) => `${label.padEnd(40)} p50 ${percentile(times, 50).toFixed(0).padStart(5)} ms   p99 ${percentile(times, 99).toFixed(0).padStart(5)} ms   all ${AGENTS} running in ${(total / 1000).toFixed(1)} s`;
    console.log(`\n${AGENTS} agents, ${IN_FLIGHT} spawns in flight, 3 kwok nodes: spawn request to pod Running`);
    console.log(row("the same pods straight through the API", direct.times, direct.total));
    console.log(row("paddock up --kube, pods", pods.times, pods.total));
    console.log(row("paddock up --kube, agent-sandbox Sandbox", sandboxes.times, sandboxes.total));
    console.log(row("paddock up --kube, Sandbox from a warm pool", warm.times, warm.total));
    console.log(`paddock (pods) / API alone, p50: ${(percentile(pods.times, 50) / percentile(direct.times, 50)).toFixed(2)}`);
    console.log(`Sandbox / pods through paddock, p50: ${(percentile(sandboxes.times, 50) / percentile(pods.times, 50)).toFixed(2)}`);
    console.log(`warm pool / cold Sandbox, p50: ${(percentile(warm.times, 50) / percentile(sandboxes.times, 50)).toFixed(2)}   p99: ${(percentile(warm.times, 99) / percentile(sandboxes.times, 99)).toFixed(2)}`);
  } finally {
    await cluster.stop();
  }
}

async function inFlight(count: number, one: (i: number) => Promise<number>): Promise<{ times: number[]; total: number }> {
  const times: number[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) times.push(await one(next++));
    }),
  );
  return { times, total: performance.now() - started };
}

/** The reference: each pod created through the API, then watched until Running. */
async function directPods(card: ReturnType<typeof CardSchema.parse>) {
  const clients = await kubeClients();
  const k8s = await import("@kubernetes/client-node");
  const running = new Map<string, () => void>();
  const watch = await new k8s.Watch(clients.config).watch(`/api/v1/namespaces/${NAMESPACES.agents}/pods`, { labelSelector: "bench=direct" }, (_type, pod: { metadata: { name: string }; status?: { phase?: string } }) => {
    if (pod.status?.phase === "Running") running.get(pod.metadata.name)?.();
  }, () => undefined);
  try {
    return await inFlight(AGENTS, async (i) => {
      const name = `direct-${i}`;
      const { pod } = agentPod(card, { id: name, name, namespace: NAMESPACES.agents, image: "paddock-agent:bench", launch: { command: card.command!, env: {}, homeFiles: {} } });
      const t = performance.now();
      const up = new Promise<void>((resolve) => running.set(name, resolve));
      await clients.core.createNamespacedPod({ namespace: NAMESPACES.agents, body: { apiVersion: "v1", kind: "Pod", ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, bench: "direct" } } } });
      await up;
      return performance.now() - t;
    });
  } finally {
    watch.abort();
    await clients.core.deleteCollectionNamespacedPod({ namespace: NAMESPACES.agents, labelSelector: "bench=direct", gracePeriodSeconds: 0 });
  }
}

/** Spawns through the daemon's API; each call returns once its agent's pod runs (warm: once its launch is delivered). */
async function throughPaddock(cluster: Cluster, cardFile: string, objects: "pod" | "sandbox", warm = false) {
  const label = warm ? "warm" : objects;
  const env = { ...process.env, ...cluster.env, PADDOCK_HOME: join(cluster.env.PADDOCK_HOME!, label) };
  const paths = paddockPaths(env);
  const daemon = spawn(process.execPath, [CLI, "up", "--kube", "--kube-objects", objects, "--no-dashboard", "--max-agents", String(AGENTS + 5), ...(warm ? ["--warm", cardFile] : [])], { env, stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.on("data", (d: Buffer) => d.toString().includes("paddock is up") && resolve());
      daemon.once("exit", (code) => reject(new Error(`paddock up --kube exited with ${code}`)));
    });
    if (warm) await poolFilled(cluster);
    const result = await inFlight(AGENTS, async (i) => {
      const t = performance.now();
      const { status, value } = await callDaemon(paths, "POST", "/v1/agents", { card_path: cardFile, name: `${label}-${i}` });
      if (status !== 201) throw new Error(`spawn ${i}: ${JSON.stringify(value)}`);
      return performance.now() - t;
    });
    await Promise.all(Array.from({ length: AGENTS }, (_, i) => callDaemon(paths, "POST", `/v1/agents/${label}-${i}/stop`, { grace_seconds: 0 })));
    return result;
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((resolve) => daemon.once("exit", resolve));
  }
}

/** Waits until the warm pool holds AGENTS ready pods, so the clock measures claims and not the pool's filling. */
async function poolFilled(cluster: Cluster): Promise<void> {
  const started = performance.now();
  for (;;) {
    const ready = Number(cluster.kubectl(["get", "sandboxwarmpools", "-n", NAMESPACES.agents, "-o", "jsonpath={.items[0].status.readyReplicas}"]) || 0);
    if (ready >= AGENTS) break;
    if (performance.now() - started > 180_000) throw new Error(`the warm pool has ${ready} of ${AGENTS} pods ready after 180 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  console.error(`warm pool of ${AGENTS} filled in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
