import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { agentPod, NAMESPACES } from "../src/kube/index.js";
import { CardSchema } from "../src/card/index.js";
import { eventually } from "./egress-helpers.js";
import { paddock, scratch } from "./helpers.js";
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
      return wanted.length >= 6 && wanted.every((p) => p.status.phase === "Running") ? wanted : undefined;
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
    // The egress proxy only reads the agents' pods.
    const egress = `system:serviceaccount:${NAMESPACES.system}:paddock-egress`;
    const review = (verb: string) => ({ apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user: egress, resourceAttributes: { verb, resource: "pods", namespace: NAMESPACES.agents } } });
    assert.equal(JSON.parse(cluster.kubectl(["create", "-o", "json", "-f", "-"], JSON.stringify(review("watch")))).status.allowed, true);
    assert.equal(JSON.parse(cluster.kubectl(["create", "-o", "json", "-f", "-"], JSON.stringify(review("create")))).status.allowed ?? false, false);
  });
});

