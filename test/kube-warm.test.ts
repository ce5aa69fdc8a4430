import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LAUNCH_ANNOTATION, NAMESPACES, openLaunch, sealLaunch, WARM_START, warmKeyOf, warmKeys } from "../src/kube/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { CLI, freePort, paddock, ROOT, scratch, waitForPort, writeCard } from "./helpers.js";
import { proxyConnect, startCluster, type Cluster } from "./kube-helpers.js";

type Meta = { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string }> };
type Pod = { metadata: Meta; spec: Record<string, any>; status: { phase?: string; podIP?: string } };
type Agent = { agent_id: string; state: string; sandbox: string | null };
const WAITER = join(ROOT, "dist", "src", "kube", "warm-start.js");

/** paddock's waiter as a warm pod runs it: its output goes where kwok serves the pods' logs from (CRI format), as a kubelet keeps it. */
function startWaiter(dir: string, criLog?: string): { child: ChildProcess; launchFile: string; output: () => string; exited: Promise<number | null> } {
  mkdirSync(join(dir, "home"), { recursive: true });
  const launchFile = join(dir, "sealed");
  const child = spawn(process.execPath, [WAITER], { env: { PATH: process.env.PATH, HOME: join(dir, "home"), PADDOCK_LAUNCH_FILE: launchFile }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const take = (stream: "stdout" | "stderr") => (d: Buffer) => {
    output += d.toString();
    if (criLog) for (const line of d.toString().split("\n").filter(Boolean)) appendFileSync(criLog, `${new Date().toISOString().replace(/Z$/, "000000Z")} ${stream} F ${line}\n`);
  };
  child.stdout!.on("data", take("stdout"));
  child.stderr!.on("data", take("stderr"));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, launchFile, output: () => output, exited };
}

describe("a launch sealed to a warm pod's key", () => {
  it("opens with that pod's key only, and not once changed", () => {
    const pod = warmKeys();
    const other = warmKeys();
    const sealed = sealLaunch(pod.publicKey, { argv: ["true"], env: { PADDOCK_EGRESS_TOKEN: "t0ken" }, files: {} });
    assert.deepEqual(openLaunch(pod, sealed), { argv: ["true"], env: { PADDOCK_EGRESS_TOKEN: "t0ken" }, files: {} });
    assert.ok(!sealed.includes("t0ken"));
    assert.throws(() => openLaunch(other, sealed), /unable to authenticate data|Unsupported state/);
    const parts = sealed.split(".");
    parts[3] = Buffer.from(Buffer.from(parts[3]!, "base64url").map((b, i) => (i === 0 ? b ^ 1 : b))).toString("base64url");
    assert.throws(() => openLaunch(pod, parts.join(".")), /unable to authenticate data|Unsupported state/);
    assert.throws(() => openLaunch(pod, "v1.only.three"), /not a sealed launch/);
    assert.equal(warmKeyOf(`paddock-warm: key ${pod.publicKey}\nlater output\n`), pod.publicKey);
    assert.equal(warmKeyOf("paddock-warm: key not-a-key\n"), undefined);
  });
});

describe("paddock's warm-pool waiter", () => {
  it("ends on SIGTERM while it waits (a pool shrinking), and passes SIGTERM to its agent once it runs", async () => {
    const { dir } = scratch("paddock-waiter-");
    const idle = startWaiter(join(dir, "idle"));
    await eventually(async () => (warmKeyOf(idle.output()) ? true : undefined), 10_000);
    idle.child.kill("SIGTERM");
    assert.equal(await idle.exited, 143);

    const busy = startWaiter(join(dir, "busy"));
    const key = await eventually(async () => warmKeyOf(busy.output()), 10_000);
    writeFileSync(busy.launchFile, sealLaunch(key, { argv: ["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done"], env: {}, files: { ".config/agent/settings.json": "{}" } }));
    await eventually(async () => (busy.output().includes("ready") ? true : undefined), 10_000);
    assert.equal(readFileSync(join(dir, "busy", "home", ".config", "agent", "settings.json"), "utf8"), "{}", "the HOME files are written before the agent starts");
    busy.child.kill("SIGTERM");
    assert.equal(await busy.exited, 7, "the agent's own exit status");
    assert.match(busy.output(), /got-term/);
  });
});

/**
 * Warm pools on a real control plane with agent-sandbox's controller: `warm: N` keeps a SandboxWarmPool of waiting
 * pods, a spawn claims one, and the agent's launch reaches that pod sealed to its own key. kwok runs no container, so
 * the waiter runs here as a process (its output served by kwok as the pods' logs), and the test does the kubelet's
 * part of projecting the pod's annotation into its file.
 */
describe("warm pools: paddock up --kube with warm: N", () => {
  let cluster: Cluster;
  const { dir, env: baseEnv } = scratch("paddock-kube-warm-");
  const workspace = join(dir, "workspace");
  mkdirSync(workspace);
  const criLog = join(dir, "agent.log");
  let env: NodeJS.ProcessEnv;
  let daemon: ChildProcess | undefined;
  let daemonOutput = () => "";
  let waiter: ReturnType<typeof startWaiter>;
  const card = writeCard(dir, "warmed.json", { agent_id: "warmed", kind: "command", command: ["sh", "-c", 'echo "agent $AGENT_ID $GREETING $HTTPS_PROXY"'], workspace, warm: 2, allowed_hosts: ["allowed.example"], environment: { GREETING: "hello" } });
  const get = <T>(kind: string) => JSON.parse(cluster.kubectl(["get", kind, "-n", NAMESPACES.agents, "-o", "json"])).items as T[];
  const pool = () => get<{ metadata: Meta; status?: { readyReplicas?: number } }>("sandboxwarmpools")[0];
  const unclaimed = () => get<Pod>("pods").filter((p) => p.metadata.labels?.["paddock.dev/warm-pool"] && !p.metadata.labels["paddock.dev/agent-id"] && p.status.phase === "Running");

  before(async () => {
    writeFileSync(criLog, "");
    // Every warm pod's output is this waiter's: whichever pod a claim gets, its launch is sealed to this waiter's key.
    waiter = startWaiter(join(dir, "waiter"), criLog);
    await eventually(async () => (warmKeyOf(waiter.output()) ? true : undefined), 10_000);
    cluster = await startCluster({ nodes: 1, agentSandbox: true, podCidr: "127.0.0.1/24", agentLogs: criLog });
    env = { ...baseEnv, ...cluster.env };
    const render = await paddock(["kube", "render", "--gpu-vram", "16", "--out", join(dir, "tree")], { env });
    assert.equal(render.code, 0, render.stderr);
    cluster.kubectl(["apply", "--server-side", "-k", join(dir, "tree", "overlays", "multi-node")]);
  });
  after(async () => {
    waiter?.child.kill("SIGKILL");
    if (daemon) await stopDaemon(daemon);
    await cluster?.stop();
  });

  it("up --warm fills a pool of waiting restricted pods; a spawn claims one, whose waiter alone can open the agent's launch and runs it", async () => {
    daemon = (await startDaemon(env, ["--kube", "--kube-objects", "sandbox", "--warm", card, "--no-dashboard"])).child;
    await eventually(async () => (pool()?.status?.readyReplicas === 2 && unclaimed().length === 2 ? true : undefined), 30_000);
    const template = get<{ spec: { podTemplate: Pod; networkPolicyManagement: string } }>("sandboxtemplates")[0]!.spec;
    // The namespace's default-deny policy applies, not agent-sandbox's own (which lets pods reach the internet).
    assert.equal(template.networkPolicyManagement, "Unmanaged");
    const container = template.podTemplate.spec.containers[0];
    assert.deepEqual(container.command, WARM_START);
    assert.deepEqual(container.securityContext.capabilities, { drop: ["ALL"] });
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.ok(!JSON.stringify(template).includes("warmed"), "nothing of an agent is in the template");
    const waiting = unclaimed().map((p) => p.metadata.name);

    const spawned = await paddock(["spawn", card, "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const agent = JSON.parse(spawned.stdout) as Agent;
    assert.equal(agent.state, "running");
    const claim = get<{ metadata: Meta; spec: { warmPoolRef: { name: string } }; status: { sandbox: { name: string } } }>("sandboxclaims").find((c) => c.metadata.name === agent.sandbox)!;
    assert.equal(claim.spec.warmPoolRef.name, pool()!.metadata.name);
    const podName = claim.status.sandbox.name;
    assert.ok(waiting.includes(podName), `the agent got one of the pods that were waiting (${waiting.join(", ")}), not a new one: ${podName}`);
    const pod = get<Pod>("pods").find((p) => p.metadata.name === podName)!;
    assert.equal(pod.metadata.labels!["paddock.dev/agent-id"], "warmed");
    assert.equal(cluster.tryKubectl(["get", "secret", `${agent.sandbox}-secret`, "-n", NAMESPACES.agents]).code, 1, "a warm agent has no Secret: its launch is sealed to its pod");
    const sealed = pod.metadata.annotations![LAUNCH_ANNOTATION]!;
    assert.match(sealed, /^v1\./);

    // Another pod's waiter (another key) cannot open it.
    const intruder = startWaiter(join(dir, "intruder"));
    await eventually(async () => (warmKeyOf(intruder.output()) ? true : undefined), 10_000);
    writeFileSync(intruder.launchFile, sealed);
    assert.equal(await intruder.exited, 125);
    assert.match(intruder.output(), /cannot be opened with this pod's key/);

    // The kubelet's part: the annotation, projected into the pod's file. The waiter runs the agent with its environment.
    writeFileSync(waiter.launchFile, sealed);
    assert.equal(await waiter.exited, 0);
    const line = waiter.output().split("\n").find((l) => l.startsWith("agent "))!;
    const match = /^agent warmed hello http:\/\/warmed:([A-Za-z0-9_-]+)@paddock-egress\.paddock-system\.svc:\d+$/.exec(line);
    assert.ok(match, line);
    const token = match[1]!;
    assert.equal(pod.metadata.annotations!["paddock.dev/egress-token-sha256"], createHash("sha256").update(token).digest("hex"));

    // The egress proxy knows the agent by that token from that pod's address, and not from another.
    const port = await freePort();
    const proxy = spawn(process.execPath, [CLI, "egress", "serve", "--kube-namespace", NAMESPACES.agents, "--listen", `127.0.0.1:${port}`], { env, stdio: ["ignore", "ignore", "pipe"] });
    try {
      await waitForPort(port);
      await eventually(async () => ((await proxyConnect(port, pod.status.podIP!, "warmed", token, "denied.example")) === 403 ? true : undefined), 15_000);
      assert.equal(await proxyConnect(port, "127.0.0.250", "warmed", token, "allowed.example"), 407);
    } finally {
      proxy.kill("SIGTERM");
    }
    // The pool fills up again behind the claim.
    await eventually(async () => (unclaimed().length === 2 ? true : undefined), 30_000);
    assert.ok(!unclaimed().some((p) => p.metadata.name === podName));
  });

  it("a restarted daemon adopts its warm agent by its claim and deletes a claim no record leads to; stop deletes the claim and its pod", async () => {
    const before = (JSON.parse((await paddock(["status", "warmed"], { env })).stdout) as Agent).sandbox!;
    await stopDaemon(daemon!);
    const stray = `stray-${Date.now()}`;
    cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "extensions.agents.x-k8s.io/v1beta1", kind: "SandboxClaim", metadata: { name: stray, namespace: NAMESPACES.agents, labels: { "app.kubernetes.io/managed-by": "paddock" } }, spec: { warmPoolRef: { name: pool()!.metadata.name } } }));
    daemon = (await startDaemon(env, ["--kube", "--kube-objects", "sandbox", "--no-dashboard"])).child;
    const status = JSON.parse((await paddock(["status", "warmed"], { env })).stdout) as Agent;
    assert.deepEqual([status.state, status.sandbox], ["running", before]);
    const claims = () => get<{ metadata: Meta }>("sandboxclaims").map((c) => c.metadata.name);
    await eventually(async () => (!claims().includes(stray) ? true : undefined), 15_000);

    const stopped = await paddock(["stop", "warmed", "--grace", "1"], { env });
    assert.equal(stopped.code, 0, stopped.stderr);
    await eventually(async () => (!claims().includes(before) && !get<Pod>("pods").some((p) => p.metadata.labels?.["paddock.dev/agent-id"] === "warmed") ? true : undefined), 30_000);
    assert.equal((JSON.parse((await paddock(["status", "warmed"], { env })).stdout) as Agent).state, "stopped");
  });

  it("a changed card gets a new pool, and its older pool goes with its waiting pods", async () => {
    const older = pool()!.metadata.name;
    const olderPods = unclaimed().map((p) => p.metadata.name);
    assert.equal(olderPods.length, 2);
    await stopDaemon(daemon!);
    const changed = writeCard(dir, "warmed-v2.json", { agent_id: "warmed", kind: "command", command: ["true"], workspace, warm: 1, allowed_hosts: ["allowed.example", "more.example"] });
    const started = await startDaemon(env, ["--kube", "--kube-objects", "sandbox", "--warm", changed, "--no-dashboard"]);
    daemon = started.child;
    daemonOutput = started.output;
    const ofCard = () => get<{ metadata: Meta; status?: { readyReplicas?: number } }>("sandboxwarmpools").filter((p) => p.metadata.labels?.["paddock.dev/card"] === "warmed");
    await eventually(async () => (ofCard().length === 1 && ofCard()[0]!.metadata.name !== older && ofCard()[0]!.status?.readyReplicas === 1 ? true : undefined), 30_000);
    await eventually(async () => (!get<Pod>("pods").some((p) => olderPods.includes(p.metadata.name)) ? true : undefined), 30_000);
    assert.equal(get<{ metadata: Meta }>("sandboxtemplates").filter((t) => t.metadata.name === older).length, 0, "its template went too");
  });

  it("a spawn of the card with warm: 0 lets its pool go", async () => {
    const ofCard = () => get<{ metadata: Meta }>("sandboxwarmpools").filter((p) => p.metadata.labels?.["paddock.dev/card"] === "warmed");
    assert.equal(ofCard().length, 1);
    const cold = writeCard(dir, "warmed-cold.json", { agent_id: "warmed", kind: "command", command: ["sleep", "3600"], workspace });
    const spawned = await paddock(["spawn", cold, "--name", "warmed-cold", "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    await eventually(async () => (ofCard().length === 0 ? true : undefined), 30_000).catch((err: Error) => assert.fail(`${err.message}\n${daemonOutput()}`));
    await eventually(async () => (unclaimed().length === 0 ? true : undefined), 30_000);
    assert.equal(JSON.parse(cluster.kubectl(["get", "pods", "-n", NAMESPACES.agents, "-l", "paddock.dev/agent-id=warmed-cold", "-o", "json"])).items.length, 1, "the cold agent runs in its own pod");
    await paddock(["stop", "warmed-cold", "--grace", "0"], { env });
  });

  it("the controller runs with its own ServiceAccount's rights (Roles in paddock-agents only): it finds agent-sandbox and its warm pools there, and fills a pool", async () => {
    const token = cluster.kubectl(["create", "token", "paddock-controller", "-n", NAMESPACES.system]).trim();
    const config = JSON.parse(readFileSync(cluster.kubeconfig, "utf8")) as { users: unknown[] };
    config.users = [{ name: "admin", user: { token } }];
    const kubeconfig = join(dir, "controller.kubeconfig");
    writeFileSync(kubeconfig, JSON.stringify(config));
    const solo = writeCard(dir, "solo.json", { agent_id: "solo", kind: "command", command: ["true"], workspace, warm: 1, allowed_hosts: ["solo.example"] });
    // Another card whose pod is the same: its pool is its own.
    const twin = writeCard(dir, "twin.json", { agent_id: "twin", kind: "command", command: ["true"], workspace, warm: 1, allowed_hosts: ["solo.example"] });
    const controller = spawn(process.execPath, [CLI, "up", "--kube", "--warm", solo, "--warm", twin, "--no-dashboard"], { env: { ...env, KUBECONFIG: kubeconfig, PADDOCK_HOME: join(dir, "controller-home") }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    controller.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    controller.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => controller.on("exit", resolve));
    try {
      assert.equal(await Promise.race([eventually(async () => (output.includes("paddock is up") ? "up" : undefined), 20_000), exited]), "up", output);
      assert.match(output, /agents {3}agent-sandbox Sandboxes in namespace paddock-agents/);
      const pools = () => get<{ metadata: Meta; spec: { replicas: number }; status?: { readyReplicas?: number } }>("sandboxwarmpools").filter((p) => ["solo", "twin"].includes(p.metadata.labels?.["paddock.dev/card"] ?? ""));
      await eventually(async () => (pools().length === 2 && pools().every((p) => p.status?.readyReplicas === 1) ? true : undefined), 30_000);
      assert.deepEqual(pools().map((p) => p.metadata.labels?.["paddock.dev/card"]).sort(), ["solo", "twin"]);
      assert.notEqual(pools()[0]!.metadata.name, pools()[1]!.metadata.name);
    } finally {
      controller.kill("SIGTERM");
      await exited;
    }
  });

  it("paddock doctor --kube says that warm pools are served", async () => {
    const r = await paddock(["doctor", "--kube", "--json"], { env });
    const check = (JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; detail: string }>).find((c) => c.name === "agent-sandbox")!;
    assert.deepEqual([check.ok, check.detail], [true, "agents.x-k8s.io/v1beta1 served: agents are Sandboxes, and cards with warm: N get warm pools"]);
  });

  it("refuses --warm for a card that asks for no warm pods, naming the file and field", async () => {
    const cold = writeCard(dir, "cold.json", { agent_id: "cold", kind: "command", command: ["true"], workspace });
    const r = await paddock(["up", "--kube", "--warm", cold, "--no-dashboard"], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /cold\.json asks for no warm pods/);
    assert.match(r.stderr, /set warm: N in the card/);
    assert.ok(!get<{ metadata: Meta }>("sandboxwarmpools").some((p) => p.metadata.labels?.["paddock.dev/card"] === "cold"), "no pool was made for it");
  });
});
