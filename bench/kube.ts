import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CardSchema } from "../src/card/index.js";
import { agentPod, kubeClients, NAMESPACES } from "../src/kube/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { callDaemon } from "../src/supervisor/index.js";
import { CLI } from "../test/helpers.js";
import { startCluster } from "../test/kube-helpers.js";
import { percentile } from "./stats.js";

const AGENTS = Number(process.env.BENCH_AGENTS ?? 50);
const IN_FLIGHT = 10;

/**
 * Spawn-to-running for 50 agents on a real control plane (kube-apiserver, etcd, scheduler, kwok's nodes playing the
 * kubelets): through `paddock up --kube` as plain pods and as agent-sandbox Sandboxes, against the same pods created
 * straight through the API and watched until Running (what paddock adds, as a ratio). Ten spawns in flight at once.
 */
export async function main(): Promise<void> {
  const cluster = await startCluster({ nodes: 3, agentSandbox: true });
  try {
    cluster.kubectl(["create", "namespace", NAMESPACES.agents]);
    cluster.kubectl(["label", "namespace", NAMESPACES.agents, "pod-security.kubernetes.io/enforce=restricted"]);
    cluster.kubectl(["create", "serviceaccount", "paddock-agent", "-n", NAMESPACES.agents]);
    const workspace = join(cluster.dir, "ws");
    mkdirSync(workspace);
    const cardFile = join(cluster.dir, "sleeper.json");
    const card = { agent_id: "sleeper", kind: "command", command: ["sleep", "3600"], workspace };
    writeFileSync(cardFile, JSON.stringify(card));

    process.env.KUBECONFIG = cluster.kubeconfig;
    const direct = await directPods(CardSchema.parse(card));
    const pods = await throughPaddock(cluster.env, cardFile, "pod");
    const sandboxes = await throughPaddock(cluster.env, cardFile, "sandbox");

    const row = (label: string, times: number[], total: number) => `${label.padEnd(40)} p50 ${percentile(times, 50).toFixed(0).padStart(5)} ms   p99 ${percentile(times, 99).toFixed(0).padStart(5)} ms   all ${AGENTS} running in ${(total / 1000).toFixed(1)} s`;
    console.log(`\n${AGENTS} agents, ${IN_FLIGHT} spawns in flight, 3 kwok nodes: spawn request to pod Running`);
    console.log(row("the same pods straight through the API", direct.times, direct.total));
    console.log(row("paddock up --kube, pods", pods.times, pods.total));
    console.log(row("paddock up --kube, agent-sandbox Sandbox", sandboxes.times, sandboxes.total));
    console.log(`paddock (pods) / API alone, p50: ${(percentile(pods.times, 50) / percentile(direct.times, 50)).toFixed(2)}`);
    console.log(`Sandbox / pods through paddock, p50: ${(percentile(sandboxes.times, 50) / percentile(pods.times, 50)).toFixed(2)}`);
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

/** Spawns through the daemon's API; each call returns once its agent's pod runs. */
async function throughPaddock(clusterEnv: NodeJS.ProcessEnv, cardFile: string, objects: "pod" | "sandbox") {
  const env = { ...process.env, ...clusterEnv, PADDOCK_HOME: join(clusterEnv.PADDOCK_HOME!, objects) };
  const paths = paddockPaths(env);
  const daemon = spawn(process.execPath, [CLI, "up", "--kube", "--kube-objects", objects, "--no-dashboard", "--max-agents", String(AGENTS + 5)], { env, stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.on("data", (d: Buffer) => d.toString().includes("paddock is up") && resolve());
      daemon.once("exit", (code) => reject(new Error(`paddock up --kube exited with ${code}`)));
    });
    const result = await inFlight(AGENTS, async (i) => {
      const t = performance.now();
      const { status, value } = await callDaemon(paths, "POST", "/v1/agents", { card_path: cardFile, name: `${objects}-${i}` });
      if (status !== 201) throw new Error(`spawn ${i}: ${JSON.stringify(value)}`);
      return performance.now() - t;
    });
    await Promise.all(Array.from({ length: AGENTS }, (_, i) => callDaemon(paths, "POST", `/v1/agents/${objects}-${i}/stop`, { grace_seconds: 0 })));
    return result;
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((resolve) => daemon.once("exit", resolve));
  }
}
