import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Role, TaskState, type Artifact, type SendMessageRequest } from "@a2a-js/sdk";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { messageText, sendTask, textPart, workerClient } from "../src/a2a/index.js";
import { NAMESPACES } from "../src/kube/index.js";
import { ScriptedModel } from "../src/scripted/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { CLI, freePort, hostProcessesWith, paddock, ROOT, scratch, waitForPort, writeCard } from "./helpers.js";
import { proxyConnect, startCluster, type Cluster } from "./kube-helpers.js";

type Pod = { metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string }> }; spec: Record<string, any>; status: { phase?: string; podIP?: string } };
const a2aRequest = (text: string): SendMessageRequest => ({
  tenant: "",
  metadata: {},
  message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [textPart(text)], taskId: "", contextId: "", extensions: [], metadata: {}, referenceTaskIds: [] },
  configuration: undefined,
});
type Agent = { agent_id: string; state: string; sandbox: string | null; exit: { cause: string } | null };

/**
 * `paddock up --kube` against a real control plane (kube-apiserver, etcd, controller manager, scheduler, kwok's nodes
 * and agent-sandbox's controller): agents are pods (or Sandboxes) made, followed, stopped and timed out through the
 * API; a restarted daemon adopts them; the egress proxy knows each by its token and its pod's address.
 */
describe("agents as pods: paddock up --kube", () => {
  let cluster: Cluster;
  const { dir, env: baseEnv } = scratch("paddock-kube-agents-");
  const workspace = join(dir, "workspace");
  mkdirSync(workspace);
  const inPod = join(dir, "in-pod");
  let env: NodeJS.ProcessEnv;
  let daemon: ChildProcess | undefined;
  const pods = () => JSON.parse(cluster.kubectl(["get", "pods", "-n", NAMESPACES.agents, "-o", "json"])).items as Pod[];
  const status = async (id: string) => JSON.parse((await paddock(["status", id], { env })).stdout) as Agent;
  const card = (name: string, extra: Record<string, unknown> = {}) => writeCard(dir, `${name}.json`, { agent_id: name, kind: "command", command: ["sleep", "3600"], workspace, ...extra });
  const up = async (objects: string) => {
    daemon = (await startDaemon(env, ["--kube", "--kube-objects", objects, "--no-dashboard"])).child;
  };
  const down = async () => {
    if (daemon) await stopDaemon(daemon);
    daemon = undefined;
  };

  before(async () => {
    // Pod addresses on the loopback network, so the test can call the proxy from an agent's own address.
    // What kwok serves as every agent container's output (in the CRI log format kubelets keep).
    writeFileSync(join(dir, "agent.log"), "2026-12-03T08:00:00.000000000Z stdout F hello from the pod\n2026-12-03T08:00:01.000000000Z stderr F and its stderr\n");
    // What is exec'd in an agent container runs here, in this folder (kwok runs no container of its own).
    // paddock's pod-side programs and the workspace are where a pod has them in its image and volume; here, beside.
    mkdirSync(inPod);
    cluster = await startCluster({ nodes: 1, agentSandbox: true, podCidr: "127.0.0.1/24", agentLogs: join(dir, "agent.log"), agentExec: inPod, agentExecEnv: { PATH: process.env.PATH!, PADDOCK_LIB: join(ROOT, "dist", "src"), PADDOCK_WORKSPACE: inPod } });
    env = { ...baseEnv, ...cluster.env };
    const render = await paddock(["kube", "render", "--gpu-vram", "16", "--out", join(dir, "tree")], { env });
    assert.equal(render.code, 0, render.stderr);
    cluster.kubectl(["apply", "--server-side", "-k", join(dir, "tree", "overlays", "multi-node")]);
  });
  after(async () => {
    await down();
    await cluster?.stop();
  });

  it("spawn makes a restricted pod with a Secret of its own; list shows it running; stop deletes both", async () => {
    await up("pod");
    const spawned = await paddock(["spawn", card("alpha", { allowed_hosts: ["allowed.example"], resource_limits: { memory_mb: 512 } }), "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const agent = JSON.parse(spawned.stdout) as Agent;
    assert.equal(agent.state, "running");
    const pod = pods().find((p) => p.metadata.name === agent.sandbox)!;
    assert.equal(pod.status.phase, "Running");
    assert.equal(pod.metadata.labels["paddock.dev/agent-id"], "alpha");
    assert.deepEqual(pod.spec.containers[0].command, ["sleep", "3600"]);
    assert.deepEqual(pod.spec.containers[0].securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
    assert.deepEqual(pod.spec.containers[0].resources.limits, { memory: "512Mi" });
    assert.equal(pod.spec.automountServiceAccountToken, false);
    assert.deepEqual(JSON.parse(pod.metadata.annotations["paddock.dev/allowed-hosts"]!), ["allowed.example"]);
    // The token is in the Secret; the pod carries only its SHA-256, for the proxy.
    const secret = JSON.parse(cluster.kubectl(["get", "secret", `${agent.sandbox}-secret`, "-n", NAMESPACES.agents, "-o", "json"]));
    const token = Buffer.from(secret.data["egress-token"], "base64").toString();
    assert.equal(pod.metadata.annotations["paddock.dev/egress-token-sha256"], createHash("sha256").update(token).digest("hex"));
    assert.deepEqual(secret.metadata.ownerReferences.map((o: { kind: string; name: string }) => [o.kind, o.name]), [["Pod", agent.sandbox]]);

    const list = JSON.parse((await paddock(["list", "--json"], { env })).stdout) as Agent[];
    assert.deepEqual(list.map((a) => [a.agent_id, a.state]), [["alpha", "running"]]);
    // Its output, through the API, in its log file as on one host.
    const logs = await eventually(async () => {
      const r = await paddock(["logs", "alpha"], { env });
      return r.stdout.includes("and its stderr") ? r.stdout : undefined;
    }, 15_000);
    assert.equal(logs, "hello from the pod\nand its stderr\n");

    const stopped = await paddock(["stop", "alpha", "--grace", "1"], { env });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /alpha stopped/);
    await eventually(async () => (pods().some((p) => p.metadata.name === agent.sandbox) ? undefined : true), 30_000);
    await eventually(async () => (cluster.tryKubectl(["get", "secret", `${agent.sandbox}-secret`, "-n", NAMESPACES.agents]).code !== 0 ? true : undefined), 30_000);
  });

  it("ttl_seconds: the pod has it as activeDeadlineSeconds, and paddock ends it at the deadline (stopped, cause ttl)", async () => {
    const spawned = await paddock(["spawn", card("brief", { ttl_seconds: 3 }), "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const name = (JSON.parse(spawned.stdout) as Agent).sandbox!;
    assert.equal(pods().find((p) => p.metadata.name === name)!.spec.activeDeadlineSeconds, 3);
    const ended = await eventually(async () => {
      const a = await status("brief");
      return a.state === "stopped" ? a : undefined;
    }, 30_000);
    assert.equal(ended.exit?.cause, "ttl");
    await eventually(async () => (pods().some((p) => p.metadata.name === name) ? undefined : true), 30_000);
  });

  it("a daemon killed and started again adopts its running pods and deletes the ones no record leads to", async () => {
    const spawned = await paddock(["spawn", card("steady"), "--json"], { env });
    const name = (JSON.parse(spawned.stdout) as Agent).sandbox!;
    daemon!.kill("SIGKILL");
    await new Promise((resolve) => daemon!.once("exit", resolve));
    daemon = undefined;
    // A pod of paddock's that no record leads to (a spawn that died half-way).
    cluster.kubectl(["run", "stray", "-n", NAMESPACES.agents, "--image", "paddock-agent:test", "--labels", "app.kubernetes.io/managed-by=paddock,paddock.dev/agent-id=stray", "--restart", "Never", "--overrides", JSON.stringify({ spec: { securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } }, containers: [{ name: "stray", image: "paddock-agent:test", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }] } })]);
    await up("pod");
    const adopted = await status("steady");
    assert.equal(adopted.state, "running");
    assert.equal(adopted.sandbox, name, "the same pod, not a new one");
    await eventually(async () => (pods().some((p) => p.metadata.name === "stray") ? undefined : true), 30_000);
    assert.ok(pods().some((p) => p.metadata.name === name));
    const stopped = await paddock(["stop", "steady", "--grace", "1"], { env });
    assert.match(stopped.stdout, /steady stopped/);
  });

  it("the egress proxy knows an agent by its token and its own pod's address: neither alone is enough", async () => {
    const spawned = await paddock(["spawn", card("caller", { allowed_hosts: ["allowed.example"] }), "--json"], { env });
    const name = (JSON.parse(spawned.stdout) as Agent).sandbox!;
    const podIp = pods().find((p) => p.metadata.name === name)!.status.podIP!;
    assert.match(podIp, /^127\.0\.0\.\d+$/);
    const secret = JSON.parse(cluster.kubectl(["get", "secret", `${name}-secret`, "-n", NAMESPACES.agents, "-o", "json"]));
    const token = Buffer.from(secret.data["egress-token"], "base64").toString();
    const port = await freePort();
    const proxy = spawn(process.execPath, [CLI, "egress", "serve", "--kube-namespace", NAMESPACES.agents, "--listen", `127.0.0.1:${port}`], { env, stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proxy.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    try {
      await waitForPort(port);
      await eventually(async () => (log.includes('"agent_id":"caller"') ? true : undefined), 15_000);
      const connect = (from: string, secretToken: string, host: string) => proxyConnect(port, from, "caller", secretToken, host);
      // From its pod, with its token: known, and held to its allowlist (403 for another host, not 407).
      assert.equal(await connect(podIp, token, "denied.example"), 403);
      assert.equal(await connect(podIp, "stolen-or-guessed", "allowed.example"), 407, "a wrong token from the right address");
      assert.equal(await connect("127.0.0.250", token, "allowed.example"), 407, "the right token from another address");
      // The pod gone, the agent is gone from the proxy.
      await paddock(["stop", "caller", "--grace", "1"], { env });
      await eventually(async () => ((await connect(podIp, token, "allowed.example")) === 407 ? true : undefined), 15_000);
    } finally {
      proxy.kill("SIGTERM");
    }
  });

  it("the gateway takes an agent's key only from that agent's own pod; other keys from anywhere", async () => {
    const spawned = await paddock(["spawn", card("asker"), "--json"], { env });
    const name = (JSON.parse(spawned.stdout) as Agent).sandbox!;
    const podIp = pods().find((p) => p.metadata.name === name)!.status.podIP!;
    const model = await new ScriptedModel({ model: "coder", script: [{ content: "served", repeat: true }] }).listen();
    const port = await freePort();
    const config = join(dir, "gateway.yaml");
    writeFileSync(config, `model_list:\n  - model_name: coder\n    litellm_params: { model: openai/coder, api_base: "${model.url}" }\ngeneral_settings: { master_key: sk-test-master }\npaddock_settings: { listen: "127.0.0.1:${port}" }\n`);
    const gateway = spawn(process.execPath, [CLI, "gateway", "--config", config, "--kube-namespace", NAMESPACES.agents], { env, stdio: ["ignore", "ignore", "pipe"] });
    try {
      await waitForPort(port);
      const generate = async (metadata: Record<string, string>) => ((await (await fetch(`http://127.0.0.1:${port}/key/generate`, { method: "POST", headers: { Authorization: "Bearer sk-test-master" }, body: JSON.stringify({ metadata }) })).json()) as { key: string }).key;
      // The key the controller gives the agent (as mintAgentKey makes it), and a developer's own key.
      const agentKey = await generate({ agent_id: "asker", minted_by: "paddock-supervisor" });
      const developerKey = await generate({ user: "alice" });
      const ask = (key: string, from: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port, localAddress: from, method: "POST", path: "/v1/chat/completions", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" } }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          });
          req.on("error", reject);
          req.end(JSON.stringify({ model: "coder", messages: [{ role: "user", content: "hi" }] }));
        });
      assert.equal((await eventually(async () => ((await ask(agentKey, podIp)).status === 200 ? true : undefined), 15_000)), true);
      const stolen = await ask(agentKey, "127.0.0.250");
      assert.equal(stolen.status, 401);
      assert.match(stolen.body, /this key is agent asker's, and is only taken from its own pod/);
      assert.equal((await ask(developerKey, "127.0.0.250")).status, 200, "a key no agent owns is not tied to a pod");
      await paddock(["stop", "asker", "--grace", "1"], { env });
      await eventually(async () => ((await ask(agentKey, podIp)).status === 401 ? true : undefined), 15_000);
    } finally {
      gateway.kill("SIGTERM");
      await model.close();
    }
  });

  it("with agent-sandbox installed, a card becomes a Sandbox: its controller makes the pod, and stop deletes the Sandbox; strays and overlong ids are refused", async () => {
    await down();
    // A plain pod a pod-mode daemon left: a Sandbox-mode daemon sweeps it too.
    cluster.kubectl(["run", "leftover", "-n", NAMESPACES.agents, "--image", "paddock-agent:test", "--labels", "app.kubernetes.io/managed-by=paddock,paddock.dev/agent-id=leftover", "--restart", "Never", "--overrides", JSON.stringify({ spec: { securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } }, containers: [{ name: "leftover", image: "paddock-agent:test", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }] } })]);
    await up("sandbox");
    await eventually(async () => (pods().some((p) => p.metadata.name === "leftover") ? undefined : true), 30_000);
    const long = await paddock(["spawn", card("boxed"), "--name", "a".repeat(60)], { env });
    assert.notEqual(long.code, 0);
    assert.match(long.stderr, /'a{60}' has 60 characters; on a cluster an agent id has at most 56/);
    const spawned = await paddock(["spawn", card("boxed", { ttl_seconds: 600 }), "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const name = (JSON.parse(spawned.stdout) as Agent).sandbox!;
    const sandbox = JSON.parse(cluster.kubectl(["get", "sandboxes.agents.x-k8s.io", name, "-n", NAMESPACES.agents, "-o", "json"]));
    assert.equal(sandbox.spec.podTemplate.metadata.labels["paddock.dev/agent-id"], "boxed");
    assert.equal(sandbox.spec.shutdownPolicy, "Delete");
    assert.ok(Math.abs(Date.parse(sandbox.spec.shutdownTime) - Date.now() - 600_000) < 30_000, "the TTL is the Sandbox's shutdownTime");
    const pod = pods().find((p) => p.metadata.name === name)!;
    assert.equal(pod.status.phase, "Running");
    assert.deepEqual(pod.metadata.ownerReferences?.map((o) => o.kind), ["Sandbox"], "made by agent-sandbox's controller");
    const stopped = await paddock(["stop", "boxed", "--grace", "1"], { env });
    assert.match(stopped.stdout, /boxed stopped/);
    await eventually(async () => (cluster.tryKubectl(["get", "sandboxes.agents.x-k8s.io", name, "-n", NAMESPACES.agents]).code !== 0 ? true : undefined), 30_000);
  });

  it("cluster.workspace: a git repository is cloned by an init container through the proxy, as the agent; a PVC is mounted at /workspace; a missing PVC is refused before any pod is made", async () => {
    await down();
    await up("pod");
    const spawned = await paddock(["spawn", card("cloner", { allowed_hosts: ["github.com"], cluster: { workspace: { git: "https://github.com/example/repo.git", ref: "main" } } }), "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const cloner = pods().find((p) => p.metadata.name === (JSON.parse(spawned.stdout) as Agent).sandbox)!;
    const init = cloner.spec.initContainers.find((c: { name: string }) => c.name === "workspace");
    assert.deepEqual(init.command, ["git", "clone", "--depth", "1", "--branch", "main", "--", "https://github.com/example/repo.git", "/workspace"]);
    assert.deepEqual(init.securityContext, cloner.spec.containers[0].securityContext, "the clone runs as restricted as the agent");
    const initEnv = Object.fromEntries(init.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));
    assert.deepEqual(initEnv.PADDOCK_EGRESS_TOKEN, { secretKeyRef: { name: `${cloner.metadata.name}-secret`, key: "egress-token" } });
    assert.match(initEnv.HTTPS_PROXY, /^http:\/\/cloner:\$\(PADDOCK_EGRESS_TOKEN\)@paddock-egress\.paddock-system\.svc:3128$/);
    assert.equal(initEnv.GIT_TERMINAL_PROMPT, "0");
    assert.deepEqual(cloner.spec.volumes.find((v: { name: string }) => v.name === "workspace"), { name: "workspace", emptyDir: {} });
    await paddock(["stop", "cloner", "--grace", "0"], { env });

    const missing = await paddock(["spawn", card("claimless", { cluster: { workspace: { pvc: "nope" } } })], { env });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no PersistentVolumeClaim nope in paddock-agents/);
    assert.match(missing.stderr, /cluster\.workspace\.pvc/);
    assert.ok(!pods().some((p) => p.metadata.labels["paddock.dev/agent-id"] === "claimless"), "no pod was made");

    // A volume bound to a claim by the controller manager: the scheduler then places the pod.
    cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "PersistentVolume", metadata: { name: "ws-volume" }, spec: { capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], storageClassName: "", hostPath: { path: join(dir, "pv") } } }));
    cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "ws-claim", namespace: NAMESPACES.agents }, spec: { accessModes: ["ReadWriteOnce"], storageClassName: "", volumeName: "ws-volume", resources: { requests: { storage: "1Gi" } } } }));
    await eventually(async () => (cluster.kubectl(["get", "pvc", "ws-claim", "-n", NAMESPACES.agents, "-o", "jsonpath={.status.phase}"]) === "Bound" ? true : undefined), 30_000);
    const kept = await paddock(["spawn", card("keeper", { cluster: { workspace: { pvc: "ws-claim" } } }), "--json"], { env });
    assert.equal(kept.code, 0, kept.stderr);
    const keeper = pods().find((p) => p.metadata.name === (JSON.parse(kept.stdout) as Agent).sandbox)!;
    assert.equal(keeper.status.phase, "Running");
    assert.deepEqual(keeper.spec.volumes.find((v: { name: string }) => v.name === "workspace"), { name: "workspace", persistentVolumeClaim: { claimName: "ws-claim" } });
    await paddock(["stop", "keeper", "--grace", "0"], { env });
  });

  it("attach execs in the agent's container through the API (pods/exec): the command's output, its input, its failure", async () => {
    await down();
    await up("pod");
    const spawned = await paddock(["spawn", card("attached"), "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const status = JSON.parse((await paddock(["status", "attached"], { env })).stdout) as Agent & { pod: { namespace: string; name: string } };
    assert.deepEqual(status.pod, { namespace: NAMESPACES.agents, name: status.sandbox });
    const r = await paddock(["attach", "attached", "--", "sh", "-c", "echo attached in $PWD"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `attached in ${join(dir, "in-pod")}\n`);
    // A failing command fails attach (a kubelet says NonZeroExitCode with the code; kwok says it in its message).
    const failed = await paddock(["attach", "attached", "--", "sh", "-c", "exit 3"], { env });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /exit status 3/);
    // A command card's UI is a shell, reading what the terminal sends.
    const shell = spawn(process.execPath, [CLI, "attach", "attached"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    shell.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    shell.stdin!.end("echo from-the-terminal\nexit 0\n");
    assert.equal(await new Promise((resolve) => shell.on("exit", resolve)), 0);
    assert.equal(out, "from-the-terminal\n");
    await paddock(["stop", "attached", "--grace", "0"], { env });
    const gone = await paddock(["attach", "attached", "--", "true"], { env });
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /agent attached is stopped/);
  });

  it("an A2A worker on a cluster does each task in its own pod (pods/exec): its files and diff read there, with the task's own key and the worker's way out; a cancelled task ends there; a restarted controller serves it again; MCP and the captain drive such workers", async () => {
    await down();
    const plan = { subtasks: [{ title: "alpha", prompt: "Write alpha.txt" }, { title: "beta", prompt: "Write beta.txt" }] };
    const model = await new ScriptedModel({ model: "m", script: [{ system: /captain of/, content: JSON.stringify(plan), repeat: true }] }).listen();
    const config = join(dir, "paddock.yaml");
    // A role whose verification must pass in the pod too, and says what it was given.
    const checkerCard = join(dir, "checker.json");
    const verify = 'echo "verify key=\${OPENAI_API_KEY:-none} proxy=\${HTTPS_PROXY:-none}"; test -s epsilon.txt';
    writeFileSync(config, `model_list:\n  - model_name: m\n    litellm_params: { model: openai/m, api_base: "${model.url}" }\npaddock_settings: { listen: "127.0.0.1:0" }\nroles:\n  checker:\n    card: ${checkerCard}\n    verify: ${JSON.stringify(verify)}\n`);
    // The pod's workspace (where kwok runs what is exec'd in it): a repository with one file.
    const git = (...args: string[]) => execFileSync("git", ["-C", inPod, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    writeFileSync(join(inPod, "base.txt"), "base\n");
    git("add", "base.txt");
    git("commit", "-qm", "base");
    const upWithGateway = async () => {
      daemon = (await startDaemon(env, ["--kube", "--kube-objects", "pod", "--gateway", config, "--no-dashboard"])).child;
    };
    await upWithGateway();
    try {
      const script = `case "$PADDOCK_PROMPT" in
        *sleepy*) echo started; sleep 30.3141;;
        *Write*.txt*) f=$(printf %s "$PADDOCK_PROMPT" | grep -o "[a-z]*\\\\.txt" | head -n 1); echo "by $AGENT_ID" > "$f"; echo "{\\"outcome\\":\\"COMPLETE\\",\\"summary\\":\\"wrote $f\\"}";;
        *) echo "key=$OPENAI_API_KEY"; echo "proxy=$HTTPS_PROXY"; echo "cwd=$(pwd)"; echo new > new.txt; echo changed >> base.txt; echo '{"outcome":"COMPLETE","summary":"wrote new.txt"}';;
      esac`;
      const spawned = await paddock(["spawn", card("worker", { command: ["sh", "-c", script], allowed_hosts: ["allowed.example"] }), "--a2a", "--json"], { env });
      assert.equal(spawned.code, 0, spawned.stderr);
      const agent = JSON.parse(spawned.stdout) as Agent & { a2a: { url: string; token: string } };
      const secret = JSON.parse(cluster.kubectl(["get", "secret", `${agent.sandbox}-secret`, "-n", NAMESPACES.agents, "-o", "json"])) as { data: Record<string, string> };
      const secretValue = (key: string) => Buffer.from(secret.data[key]!, "base64").toString();
      const client = await workerClient(agent.a2a.url, agent.a2a.token);
      const send = async (text: string, onProgress: (text: string, taskId: string) => Promise<void> = async () => undefined) => {
        const seen = { states: [] as string[], progress: [] as string[], artifacts: {} as Record<string, Artifact> };
        let taskId = "";
        for await (const event of client.sendMessageStream(a2aRequest(text))) {
          const payload = event.payload!;
          if (payload.$case === "task") taskId = payload.value.id;
          if (payload.$case === "statusUpdate") {
            seen.states.push(TaskState[payload.value.status!.state]);
            const said = messageText(payload.value.status?.message?.parts ?? []);
            seen.progress.push(said);
            await onProgress(said, taskId);
          }
          if (payload.$case === "artifactUpdate") seen.artifacts[payload.value.artifact!.name] = payload.value.artifact!;
        }
        return seen;
      };

      const done = await send("write a file");
      assert.equal(done.states.at(-1), "TASK_STATE_COMPLETED", done.progress.join("\n"));
      assert.ok(done.progress.includes("command is starting in its pod"));
      const printed = done.progress.join("");
      // It ran where the pod's container is (kwok's exec folder), not in a sandbox over the card's workspace on this host.
      assert.match(printed, new RegExp(`cwd=${inPod}\n`));
      assert.ok(!existsSync(join(workspace, "new.txt")));
      // With a gateway key of its own (minted for the task, not the worker's), and the worker's egress token.
      const key = /key=(\S+)\n/.exec(printed)?.[1];
      assert.ok(key?.startsWith("sk-"), printed);
      assert.notEqual(key, secretValue("gateway-key"));
      assert.match(printed, new RegExp(`proxy=http://worker:${secretValue("egress-token")}@paddock-egress\\.${NAMESPACES.system}\\.svc:\\d+\n`));
      const files = done.artifacts["changed-files"]!.parts.map((p) => [p.filename, p.content?.$case === "raw" ? Buffer.from(p.content.value).toString() : undefined]);
      assert.deepEqual(files, [["base.txt", "base\nchanged\n"], ["new.txt", "new\n"]]);
      const diff = done.artifacts.diff!.parts[0]!.content;
      assert.match(diff?.$case === "text" ? diff.value : "", /\+changed[\s\S]*\+new/);

      const cancelled = await send("a sleepy task", async (said, taskId) => {
        if (!said.includes("started")) return;
        assert.ok(hostProcessesWith("30.3141").length > 0, "the task runs before the cancel");
        await client.cancelTask({ tenant: "", id: taskId, metadata: {} });
      });
      assert.equal(cancelled.states.at(-1), "TASK_STATE_CANCELED", cancelled.progress.join("\n"));
      assert.deepEqual(hostProcessesWith("30.3141"), [], "the task's processes ended in the pod");

      // The controller restarted: the worker's pod is adopted and served over A2A again (a new address and token), its tasks still in the pod.
      await down();
      await upWithGateway();
      const adopted = (await status("worker")) as Agent & { a2a: { url: string; token: string } | null };
      assert.equal(adopted.state, "running");
      assert.equal(adopted.sandbox, agent.sandbox);
      assert.notEqual(adopted.a2a?.token, agent.a2a.token);
      const after = await sendTask(await workerClient(adopted.a2a!.url, adopted.a2a!.token), "Write gamma.txt");
      assert.equal(after.state, "completed", after.summary);
      assert.deepEqual(after.changed_files, [{ path: "gamma.txt", status: "added" }]);
      await paddock(["stop", "worker", "--grace", "0"], { env });

      // A worker in a role: its verification runs in the pod after the agent's COMPLETE, with no gateway key and no way out.
      writeFileSync(checkerCard, JSON.stringify({ agent_id: "checker", kind: "command", command: ["sh", "-c", script], workspace, allowed_hosts: ["allowed.example"] }));
      const checker = await paddock(["spawn", "--role", "checker", "--a2a", "--json"], { env });
      assert.equal(checker.code, 0, checker.stderr);
      const checkerA2a = (JSON.parse(checker.stdout) as { a2a: { url: string; token: string } }).a2a;
      const checked = await sendTask(await workerClient(checkerA2a.url, checkerA2a.token), "Write epsilon.txt");
      assert.equal(checked.state, "completed", checked.summary);
      const run = JSON.parse((await paddock(["runs", checked.run_id!, "--json"], { env })).stdout) as { verifications: Array<{ passed: boolean; output_tail: string }> };
      assert.deepEqual(run.verifications.map((v) => [v.passed, v.output_tail]), [[true, "verify key=none proxy=none\n"]]);
      await paddock(["stop", "checker", "--grace", "0"], { env });

      // MCP's tools through the daemon, the same on a cluster.
      const mcp = new Client({ name: "paddock-test", version: "1.0.0" });
      await mcp.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, "mcp"], env: env as Record<string, string>, stderr: "pipe" }));
      try {
        const spawnedOverMcp = (await mcp.callTool({ name: "spawn_worker", arguments: { card_path: card("mcp-worker", { command: ["sh", "-c", script] }), name: "mcp-worker" } })) as { isError?: boolean; structuredContent?: Record<string, any> };
        assert.equal(spawnedOverMcp.structuredContent?.state, "running", JSON.stringify(spawnedOverMcp));
        const sent = (await mcp.callTool({ name: "send_task", arguments: { agent_id: "mcp-worker", prompt: "Write delta.txt" } }, undefined, { timeout: 60_000 })) as { structuredContent?: Record<string, any> };
        assert.equal(sent.structuredContent?.state, "completed", JSON.stringify(sent));
        assert.deepEqual(sent.structuredContent?.changed_files, [{ path: "delta.txt", status: "added" }]);
        assert.match(readFileSync(join(inPod, "delta.txt"), "utf8"), /^by mcp-worker\n$/);
        const stopped = (await mcp.callTool({ name: "terminate_worker", arguments: { agent_id: "mcp-worker", grace_seconds: 0 } })) as { structuredContent?: Record<string, any> };
        assert.equal(stopped.structuredContent?.state, "stopped");
      } finally {
        await mcp.close();
      }

      // The captain's crew is the same: workers spawned in pods, the plan's subtasks done there over A2A, the workers stopped.
      const r = await paddock(["captain", "Write two files", "--workers", "1", "--no-roles", "--card", card("crew", { command: ["sh", "-c", script] }), "--json"], { env });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const report = JSON.parse(r.stdout) as { results: Array<{ title: string; state: string; summary: string; worker: string; changed_files: Array<{ path: string; status: string }> }> };
      assert.deepEqual(report.results.map((x) => [x.title, x.state, x.summary]), [["alpha", "completed", "wrote alpha.txt"], ["beta", "completed", "wrote beta.txt"]]);
      for (const x of report.results) assert.deepEqual(x.changed_files, [{ path: `${x.title}.txt`, status: "added" }]);
      assert.match(readFileSync(join(inPod, "alpha.txt"), "utf8"), /^by captain-[0-9a-f]+-w1\n$/);
      await eventually(async () => (!pods().some((p) => p.metadata.labels["paddock.dev/agent-id"]?.startsWith("captain-")) ? true : undefined), 30_000);
    } finally {
      await down();
      await model.close();
    }
  });

  it("restart: on-failure: a pod deleted under the agent (evicted, its node lost) is replaced by a new one, counted; stop ends it for good", async () => {
    await down();
    await up("pod");
    const spawned = await paddock(["spawn", card("phoenix", { restart: { policy: "on-failure", max_restarts: 2, backoff_seconds: 0.2 } }), "--json"], { env });
    assert.equal(spawned.code, 0, spawned.stderr);
    const first = (JSON.parse(spawned.stdout) as Agent).sandbox!;
    cluster.kubectl(["delete", "pod", first, "-n", NAMESPACES.agents, "--grace-period=0", "--force", "--wait=false"]);
    const again = await eventually(async () => {
      const s = JSON.parse((await paddock(["status", "phoenix"], { env })).stdout) as Agent & { restarts: number };
      return s.state === "running" && s.sandbox !== first ? s : undefined;
    }, 30_000);
    assert.equal(again.restarts, 1);
    const pod = pods().find((p) => p.metadata.name === again.sandbox)!;
    assert.equal(pod.status.phase, "Running");
    assert.equal(pod.metadata.labels["paddock.dev/agent-id"], "phoenix");
    await paddock(["stop", "phoenix", "--grace", "0"], { env });
    await eventually(async () => (!pods().some((p) => p.metadata.labels["paddock.dev/agent-id"] === "phoenix") ? true : undefined), 30_000);
    assert.equal((JSON.parse((await paddock(["status", "phoenix"], { env })).stdout) as Agent).state, "stopped");
  });
});
