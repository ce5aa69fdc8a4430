import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { agentPod, NAMESPACES } from "../src/kube/index.js";
import { CardSchema } from "../src/card/index.js";
import { writeFileSync } from "node:fs";
import { eventually } from "./egress-helpers.js";
import { freePort, paddock, scratch } from "./helpers.js";
import { startCluster, type Cluster } from "./kube-helpers.js";

type Pod = { metadata: { name: string; labels?: Record<string, string> }; spec: { nodeName?: string }; status: { phase?: string } };

/**
 * `paddock kube render`'s tree on a real control plane (kube-apiserver, etcd, the controller manager, the scheduler,
 * kwok's nodes: one plain, one with a GPU): it applies server-side, Pod Security admits agent pods and refuses a
 * privileged one, vLLM lands on the GPU node only, and the controller's ServiceAccount reaches no other namespace.
 */
describe("the rendered tree on a real Kubernetes control plane", () => {
  let cluster: Cluster;
  const { dir, env } = scratch("paddock-kube-apply-");
  const out = join(dir, "cluster");

  before(async () => {
    cluster = await startCluster({ nodes: 1, gpuNodes: 1 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("applies server-side, and every workload is scheduled where it belongs: vLLM on the GPU node only", async () => {
    const r = await paddock(["kube", "render", "--gpu-vram", "16", "--out", out], { env });
    assert.equal(r.code, 0, r.stderr);
    // The volumes' claims are bound as a storage provisioner would (none runs without a kubelet).
    for (const [name, size] of [["models", "40Gi"], ["pgdata", "10Gi"]]) {
      cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "PersistentVolume", metadata: { name }, spec: { capacity: { storage: size }, accessModes: ["ReadWriteOnce"], hostPath: { path: `/srv/${name}` } } }));
    }
    const applied = cluster.kubectl(["apply", "--server-side", "--field-manager", "paddock-test", "-k", join(out, "overlays", "multi-node")]);
    assert.match(applied, /deployment.apps\/vllm serverside-applied/);
    assert.match(applied, /deployment.apps\/paddock-controller serverside-applied/);
    assert.match(applied, /rolebinding.rbac.authorization.k8s.io\/paddock-controller serverside-applied/);

    const pods = await eventually(async () => {
      const all = JSON.parse(cluster.kubectl(["get", "pods", "-A", "-o", "json"])).items as Array<Pod & { metadata: { namespace: string } }>;
      const wanted = all.filter((p) => p.metadata.namespace === NAMESPACES.models || p.metadata.namespace === NAMESPACES.system);
      // Every replica of every workload (vLLM 1, gateway 2, egress 2, controller 1, PostgreSQL 1), each Running.
      return wanted.length === 7 && wanted.every((p) => p.status.phase === "Running") ? wanted : undefined;
    }, 90_000);
    const byApp = (app: string) => pods.filter((p) => p.metadata.labels?.["app.kubernetes.io/name"] === app);
    assert.deepEqual(byApp("vllm").map((p) => p.spec.nodeName), ["kwok-gpu-0"]);
    assert.equal(byApp("paddock-gateway").length, 2, "two gateway replicas");
    for (const app of ["paddock-gateway", "paddock-egress", "paddock-controller", "postgres"]) {
      assert.ok(byApp(app).length > 0 && byApp(app).every((p) => p.spec.nodeName === "kwok-node-0"), `${app} stays off the GPU node (it does not tolerate its taint)`);
    }
  });

  it("Pod Security restricted admits an agent pod as paddock makes it, and refuses a privileged one, naming why", () => {
    const card = CardSchema.parse({ agent_id: "psa-probe", kind: "command", command: ["sleep", "60"], workspace: "/tmp", ttl_seconds: 600 });
    const { pod } = agentPod(card, { id: "psa-probe", name: "psa-probe", namespace: NAMESPACES.agents, image: "paddock-agent:test", launch: { command: ["sleep", "60"], env: {}, homeFiles: {} } });
    const admitted = cluster.tryKubectl(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", ...pod }));
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.doesNotMatch(admitted.stderr, /Warning/);

    const privileged = { apiVersion: "v1", kind: "Pod", metadata: { name: "escape", namespace: NAMESPACES.agents }, spec: { containers: [{ name: "x", image: "busybox", securityContext: { privileged: true } }], hostPID: true } };
    const refused = cluster.tryKubectl(["create", "-f", "-"], JSON.stringify(privileged));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /violates PodSecurity "restricted:latest"/);
    assert.match(refused.stderr, /privileged/);
    assert.match(refused.stderr, /hostPID=true/);
    assert.equal(cluster.tryKubectl(["get", "pod", "escape", "-n", NAMESPACES.agents]).code, 1, "nothing was made");
  });

  it("the controller's ServiceAccount may manage agents in their namespace, and nothing elsewhere (SubjectAccessReview)", () => {
    const user = `system:serviceaccount:${NAMESPACES.system}:paddock-controller`;
    const may = (verb: string, resource: string, namespace?: string, group = "") => {
      const review = { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user, groups: ["system:serviceaccounts", `system:serviceaccounts:${NAMESPACES.system}`], resourceAttributes: { verb, resource, group, ...(namespace ? { namespace } : {}) } } };
      return (JSON.parse(cluster.kubectl(["create", "-o", "json", "-f", "-"], JSON.stringify(review))) as { status: { allowed: boolean } }).status.allowed;
    };
    assert.equal(may("create", "pods", NAMESPACES.agents), true);
    assert.equal(may("delete", "sandboxes", NAMESPACES.agents, "agents.x-k8s.io"), true);
    assert.equal(may("create", "secrets", NAMESPACES.agents), true);
    assert.equal(may("create", "pods", NAMESPACES.system), false, "not its own namespace");
    assert.equal(may("get", "secrets", NAMESPACES.system), false, "not the system's secrets");
    assert.equal(may("list", "pods", "default"), false);
    assert.equal(may("list", "nodes"), false, "nothing cluster-wide");
    assert.equal(may("create", "clusterrolebindings", undefined, "rbac.authorization.k8s.io"), false);
    // The egress proxy and the gateway only read the agents' pods.
    for (const reader of ["paddock-egress", "paddock-gateway"]) {
      const review = (verb: string) => ({ apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user: `system:serviceaccount:${NAMESPACES.system}:${reader}`, resourceAttributes: { verb, resource: "pods", namespace: NAMESPACES.agents } } });
      assert.equal(JSON.parse(cluster.kubectl(["create", "-o", "json", "-f", "-"], JSON.stringify(review("watch")))).status.allowed, true, reader);
      assert.equal(JSON.parse(cluster.kubectl(["create", "-o", "json", "-f", "-"], JSON.stringify(review("create")))).status.allowed ?? false, false, reader);
    }
  });

  it("paddock doctor --kube checks the cluster, each failure with its fix; an unreachable one is one clear failure", async () => {
    type Check = { name: string; ok: boolean; detail: string; fix?: string };
    const doctor = async () => {
      const r = await paddock(["doctor", "--kube", "--json"], { env: cluster.env });
      return { code: r.code, checks: new Map((JSON.parse(r.stdout) as Check[]).map((c) => [c.name, c])) };
    };
    const first = await doctor();
    assert.equal(first.code, 1);
    assert.deepEqual([...first.checks.keys()], ["context", "nodes", "device plugin", "runtime classes", "network policy", "pod security", "storage class", "agent-sandbox", "vLLM"]);
    assert.match(first.checks.get("context")!.detail, /Kubernetes v1\.36\.3/);
    assert.deepEqual([first.checks.get("nodes")!.ok, first.checks.get("nodes")!.detail], [true, "2/2 nodes Ready; 1 GPU allocatable"]);
    assert.equal(first.checks.get("device plugin")!.ok, false);
    assert.match(first.checks.get("device plugin")!.fix!, /k8s-device-plugin/);
    assert.equal(first.checks.get("network policy")!.ok, false, "no CNI here enforces policies");
    assert.match(first.checks.get("network policy")!.fix!, /Calico, Cilium/);
    assert.equal(first.checks.get("pod security")!.ok, true);
    assert.equal(first.checks.get("storage class")!.ok, false);
    assert.equal(first.checks.get("vLLM")!.ok, true, "kwok runs the vLLM pod on the GPU node");
    assert.deepEqual([first.checks.get("agent-sandbox")!.detail, first.checks.get("agent-sandbox")!.fix], ["not installed: agents are plain pods", "for Sandboxes and warm pools, install kubernetes-sigs/agent-sandbox (its CRDs and controller)"]);

    // The device plugin, as NVIDIA ships it (a DaemonSet in kube-system), and a default StorageClass: both checks pass.
    cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "nvidia-device-plugin-daemonset", namespace: "kube-system" }, spec: { selector: { matchLabels: { name: "nvdp" } }, template: { metadata: { labels: { name: "nvdp" } }, spec: { tolerations: [{ operator: "Exists" }], containers: [{ name: "nvdp", image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.0" }] } } } }));
    cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "storage.k8s.io/v1", kind: "StorageClass", metadata: { name: "local-path", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } }, provisioner: "rancher.io/local-path" }));
    const second = await eventually(async () => {
      const d = await doctor();
      return d.checks.get("device plugin")!.ok ? d : undefined;
    }, 30_000);
    assert.match(second.checks.get("device plugin")!.detail, /kube-system\/nvidia-device-plugin-daemonset: 2\/2 ready/);
    assert.deepEqual([second.checks.get("storage class")!.ok, second.checks.get("storage class")!.detail], [true, "local-path (default, rancher.io/local-path)"]);

    const { dir } = scratch("paddock-kube-doctor-");
    const nowhere = join(dir, "kubeconfig");
    writeFileSync(nowhere, JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name: "x", cluster: { server: `https://127.0.0.1:${await freePort()}` } }], users: [{ name: "x", user: {} }], contexts: [{ name: "x", context: { cluster: "x", user: "x" } }], "current-context": "x" }));
    const down = await paddock(["doctor", "--kube"], { env: { ...cluster.env, KUBECONFIG: nowhere } });
    assert.equal(down.code, 1);
    assert.match(down.stdout, /✖ context: https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED[\s\S]*fix: kubectl config current-context/);

    // The daemon refuses to start, saying where: a kubeconfig it cannot read, a namespace the cluster lacks.
    const unreadable = await paddock(["up", "--kube"], { env: { ...cluster.env, KUBECONFIG: join(dir, "missing") } });
    assert.equal(unreadable.code, 125);
    assert.match(unreadable.stderr, /KUBECONFIG: the kubeconfig cannot be read/);
    const missingNamespace = await paddock(["up", "--kube", "--namespace", "nowhere", "--no-dashboard"], { env: { ...cluster.env, PADDOCK_HOME: join(dir, "home") } });
    assert.equal(missingNamespace.code, 125);
    assert.match(missingNamespace.stderr, /--namespace: no namespace nowhere on https:\/\/127\.0\.0\.1:\d+[\s\S]*hint: apply paddock kube render's tree first/);
  });
});
