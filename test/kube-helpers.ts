import { request } from "node:http";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, ROOT, scratch } from "./helpers.js";

const CONFIG = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { config: { etcd: string; kubernetes: string; kwok: string; agentSandbox: string } }).config;
const CACHE = process.env.PADDOCK_TEST_CACHE ?? join(homedir(), ".cache", "paddock-test");
const KUBERNETES = join(CACHE, `kubernetes-${CONFIG.kubernetes}`);
const KWOK = join(CACHE, `kwok-${CONFIG.kwok}`);
const AGENT_SANDBOX = join(CACHE, `agent-sandbox-${CONFIG.agentSandbox}`);
const ETCD = join(CACHE, `etcd-${CONFIG.etcd}`, "etcd");

/** kubectl of the control plane's own release, which .ci/peers builds with it. */
export const TEST_KUBECTL = join(KUBERNETES, "kubectl");

export interface ClusterOptions {
  /** agent-sandbox's CRDs and its controller (with the extensions: templates, claims, warm pools). */
  agentSandbox?: boolean;
  /** kwok nodes: plain ones, and GPU ones with nvidia.com/gpu allocatable. */
  nodes?: number;
  gpuNodes?: number;
  /** Where kwok gives pods their addresses (default 10.244.0.1/16). */
  podCidr?: string;
  /** What kwok serves as the log of every agent container (`kubectl logs`, the API's pods/log), from this file. */
  agentLogs?: string;
  /** Where kwok runs, on this machine, what is exec'd in an agent container (it runs none of its own). */
  agentExec?: string;
  /** The environment of what is exec'd there (kwok passes none of the pod's spec). */
  agentExecEnv?: Record<string, string>;
}

export interface Cluster {
  dir: string;
  /** A kubeconfig with the cluster-admin's client certificate. */
  kubeconfig: string;
  /** Environment for a child (kubectl, paddock) that talks to this cluster. */
  env: NodeJS.ProcessEnv;
  kubectl(args: string[], input?: string): string;
  /** kubectl's exit code, output and warnings, for commands that may fail. */
  tryKubectl(args: string[], input?: string): { code: number; stdout: string; stderr: string };
  stop(): Promise<void>;
}

/**
 * A real control plane on 127.0.0.1: etcd, kube-apiserver with RBAC, Pod Security admission and service
 * account tokens, the controller manager and the scheduler (all built from source by .ci/peers), kwok playing the
 * kubelets of fake nodes, and optionally agent-sandbox's controller with its CRDs. Each process logs to the scratch
 * folder, where a failing test leaves them for a look.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const { dir, env: baseEnv } = scratch("paddock-kube-cluster-");
  const pki = join(dir, "pki");
  mkdirSync(pki);
  const children: ChildProcess[] = [];
  const run = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const log = createWriteStream(join(dir, `${name}.log`));
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH, ...env } });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    children.push(child);
    return child;
  };
  const stop = async (): Promise<void> => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill("SIGTERM");
      const exited = new Promise((resolve) => child.once("exit", resolve));
      if (!(await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]))) child.kill("SIGKILL");
    }
  };
  try {
    certificates(pki);
    const [etcdPort, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    run("etcd", ETCD, [
      "--data-dir", join(dir, "etcd"), "--name", "default",
      "--listen-client-urls", `http://127.0.0.1:${etcdPort}`, "--advertise-client-urls", `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-urls", `http://127.0.0.1:${etcdPeer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPeer}`,
      "--initial-cluster", `default=http://127.0.0.1:${etcdPeer}`,
    ]);
    run("kube-apiserver", join(KUBERNETES, "kube-apiserver"), [
      "--etcd-servers", `http://127.0.0.1:${etcdPort}`,
      "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", String(apiPort),
      "--tls-cert-file", join(pki, "apiserver.crt"), "--tls-private-key-file", join(pki, "apiserver.key"),
      "--client-ca-file", join(pki, "ca.crt"),
      "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
      "--service-account-key-file", join(pki, "sa.pub"), "--service-account-signing-key-file", join(pki, "sa.key"),
      "--service-cluster-ip-range", "10.96.0.0/16",
      "--authorization-mode", "Node,RBAC",
      // kwok answers for the nodes' kubelets (logs) on 127.0.0.1, with a certificate of the cluster's CA.
      "--kubelet-preferred-address-types", "InternalIP", "--kubelet-certificate-authority", join(pki, "ca.crt"),
      "--kubelet-client-certificate", join(pki, "admin.crt"), "--kubelet-client-key", join(pki, "admin.key"),
      "--allow-privileged=true",
    ]);
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kubeconfigText(`https://127.0.0.1:${apiPort}`, pki));
    // HOME too: kubectl keeps its discovery cache under $HOME/.kube, and without a HOME in the working folder.
    const env = { ...baseEnv, KUBECONFIG: kubeconfig, HOME: dir };
    const cluster: Cluster = {
      dir,
      kubeconfig,
      env,
      kubectl: (args, input) => execFileSync(TEST_KUBECTL, args, { env, input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] }),
      tryKubectl: (args, input) => {
        const r = spawnSync(TEST_KUBECTL, args, { env, input, encoding: "utf8" });
        return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
      },
      stop,
    };
    await waitFor("kube-apiserver", 60_000, () => cluster.tryKubectl(["get", "--raw", "/readyz"]).stdout.trim() === "ok", join(dir, "kube-apiserver.log"));
    run("kube-controller-manager", join(KUBERNETES, "kube-controller-manager"), [
      "--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0",
      "--service-account-private-key-file", join(pki, "sa.key"), "--root-ca-file", join(pki, "ca.crt"),
      "--use-service-account-credentials=true", "--cluster-signing-cert-file", join(pki, "ca.crt"), "--cluster-signing-key-file", join(pki, "ca.key"),
    ]);
    run("kube-scheduler", join(KUBERNETES, "kube-scheduler"), ["--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0"]);
    const logs = join(dir, "kwok-logs.yaml");
    writeFileSync(logs, JSON.stringify({ apiVersion: "config.kwok.x-k8s.io/v1alpha1", kind: "ClusterLogs", metadata: { name: "agents" }, spec: { logs: options.agentLogs ? [{ containers: ["agent"], logsFile: options.agentLogs, follow: true }] : [] } }));
    const execs = join(dir, "kwok-execs.json");
    writeFileSync(execs, JSON.stringify({ apiVersion: "config.kwok.x-k8s.io/v1alpha1", kind: "ClusterExec", metadata: { name: "agents" }, spec: { execs: options.agentExec ? [{ containers: ["agent"], local: { workDir: options.agentExec, envs: Object.entries(options.agentExecEnv ?? {}).map(([name, value]) => ({ name, value })) } }] : [] } }));
    run("kwok", join(KWOK, "kwok"), [
      "--kubeconfig", kubeconfig, "--config", join(KWOK, "stages.yaml"), "--config", logs, "--config", execs,
      "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
      "--cidr", options.podCidr ?? "10.244.0.1/16", "--node-ip", "127.0.0.1", "--node-port", String(await freePort()),
      "--tls-cert-file", join(pki, "kubelet.crt"), "--tls-private-key-file", join(pki, "kubelet.key"),
    ]);
    for (let i = 0; i < (options.nodes ?? 1); i++) cluster.kubectl(["apply", "-f", "-"], fakeNode(`kwok-node-${i}`, false));
    for (let i = 0; i < (options.gpuNodes ?? 0); i++) cluster.kubectl(["apply", "-f", "-"], fakeNode(`kwok-gpu-${i}`, true));
    if (options.agentSandbox) {
      cluster.kubectl(["apply", "--server-side", "-f", join(AGENT_SANDBOX, "crds")]);
      cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...readdirSync(join(AGENT_SANDBOX, "crds")).map((f) => `crd/${f.replace(/^([^_]+)_(.+)\.yaml$/, "$2.$1")}`)]);
      run("agent-sandbox-controller", join(AGENT_SANDBOX, "agent-sandbox-controller"), [
        "--kubeconfig", kubeconfig, "--leader-elect=false", "--extensions", "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
      ]);
    }
    await waitFor("the kwok nodes to be Ready", 60_000, () => {
      const ready = cluster.kubectl(["get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"]);
      return ready.split("\n").filter((s) => s === "True").length === (options.nodes ?? 1) + (options.gpuNodes ?? 0);
    }, join(dir, "kwok.log"));
    // The namespace's default ServiceAccount appears once the controller manager runs: pods can be created from then on.
    await waitFor("the default ServiceAccount", 60_000, () => cluster.tryKubectl(["get", "serviceaccount", "default", "-n", "default"]).code === 0, join(dir, "kube-controller-manager.log"));
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(what: string, timeoutMs: number, ready: () => boolean, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (ready()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs / 1000} s (see ${log})`);
    await sleep(250);
  }
}

/** The cluster's CA, the API server's serving certificate (for 127.0.0.1), an admin client certificate, and the service account key pair. */
function certificates(pki: string): void {
  const ssl = (args: string[]) => execFileSync("openssl", args, { cwd: pki, stdio: "pipe" });
  ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=paddock-test-ca"]);
  const signed = (name: string, subject: string, extensions: string) => {
    ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
    writeFileSync(join(pki, `${name}.ext`), extensions);
    ssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`]);
  };
  signed("apiserver", "/CN=kube-apiserver", "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n");
  signed("admin", "/O=system:masters/CN=paddock-test-admin", "extendedKeyUsage=clientAuth\n");
  signed("kubelet", "/CN=kwok-kubelet", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  ssl(["genrsa", "-out", "sa.key", "2048"]);
  ssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

function kubeconfigText(server: string, pki: string): string {
  const b64 = (file: string) => readFileSync(join(pki, file)).toString("base64");
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "test", cluster: { server, "certificate-authority-data": b64("ca.crt") } }],
    users: [{ name: "admin", user: { "client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key") } }],
    contexts: [{ name: "test", context: { cluster: "test", user: "admin" } }],
    "current-context": "test",
  });
}

/** A node that kwok keeps Ready; a GPU node has nvidia.com/gpu allocatable and the GPU feature-discovery label. */
function fakeNode(name: string, gpu: boolean): string {
  const capacity = { cpu: "32", memory: "128Gi", pods: "110", ...(gpu ? { "nvidia.com/gpu": "1" } : {}) };
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, annotations: { "kwok.x-k8s.io/node": "fake" }, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok", ...(gpu ? { "nvidia.com/gpu.present": "true" } : {}) } },
    spec: gpu ? { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] } : {},
    status: { capacity, allocatable: capacity },
  });
}

/** The status a CONNECT through the egress proxy at `port` gets, sent from address `from` as agent `user` with `token`. */
export function proxyConnect(port: number, from: string, user: string, token: string, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, localAddress: from, method: "CONNECT", path: `${host}:443`, headers: { "Proxy-Authorization": `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}` } });
    req.on("connect", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode!);
    });
    req.on("response", (res) => resolve(res.statusCode!));
    req.on("error", reject);
    req.end();
  });
}
