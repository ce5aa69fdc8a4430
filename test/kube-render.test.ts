import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { sizeVllm } from "../src/kube/index.js";
import { paddock, scratch, TEST_KUSTOMIZE } from "./helpers.js";

type Resource = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: Record<string, any>; automountServiceAccountToken?: boolean };

/** The overlay as the cluster would get it: built by the real kustomize. */
function build(dir: string): Resource[] {
  const out = execFileSync(TEST_KUSTOMIZE, ["build", dir], { encoding: "utf8" });
  return parseAllDocuments(out).map((d) => d.toJS() as Resource);
}

describe("paddock kube render: a kustomize tree that kustomize builds", () => {
  const { dir, env } = scratch("paddock-kube-");
  const out = join(dir, "cluster");

  it("writes the models and agents namespaces: vLLM sized for the GPU, the agents locked down, an overlay per kind of cluster", async () => {
    const r = await paddock(["kube", "render", "--gpu-vram", "16", "--model", "qwen2.5-coder-7b-awq", "--out", out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /apply: kubectl apply --server-side -k .*overlays\/single-node/);
    const single = build(join(out, "overlays", "single-node"));
    const find = (kind: string, name: string) => single.find((x) => x.kind === kind && x.metadata.name === name)!;

    // Pod Security: restricted for agents (enforced, audited, warned), baseline where vLLM runs.
    assert.deepEqual(single.filter((x) => x.kind === "Namespace").map((n) => [n.metadata.name, n.metadata.labels!["pod-security.kubernetes.io/enforce"], n.metadata.labels!["pod-security.kubernetes.io/warn"]]), [
      ["paddock-agents", "restricted", "restricted"],
      ["paddock-models", "baseline", "baseline"],
      ["paddock-system", "baseline", "baseline"],
    ]);
    // Agents: everything denied, then only the proxy, the gateway and DNS out; no API token.
    assert.deepEqual(find("NetworkPolicy", "default-deny").spec, { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    const exits = find("NetworkPolicy", "agent-exits").spec!.egress as Array<{ to: Array<{ podSelector: { matchLabels: Record<string, string> } }>; ports: Array<{ port: number }> }>;
    assert.deepEqual(exits.map((e) => [Object.values(e.to[0]!.podSelector.matchLabels)[0], e.ports.map((p) => p.port)]), [["paddock-egress", [3128]], ["paddock-gateway", [4000]], ["kube-dns", [53, 53]]]);
    assert.equal(find("ServiceAccount", "paddock-agent").automountServiceAccountToken, false);
    assert.ok(single.filter((x) => x.metadata.namespace === "paddock-agents").every((x) => ["NetworkPolicy", "ServiceAccount", "Role", "RoleBinding"].includes(x.kind)), "nothing runs in the agents' namespace but what paddock spawns");

    // vLLM: the sizing's arguments, one GPU, /dev/shm in memory, a long start allowed, the weights fetched once.
    const vllm = find("Deployment", "vllm");
    const pod = vllm.spec!.template.spec;
    assert.deepEqual(pod.containers[0].args, sizeVllm("qwen2.5-coder-7b-awq", 16).args);
    assert.deepEqual(pod.containers[0].resources, { limits: { "nvidia.com/gpu": "1" } });
    assert.deepEqual(pod.volumes.find((v: { name: string }) => v.name === "shm").emptyDir, { medium: "Memory", sizeLimit: "11Gi" });
    assert.ok(pod.containers[0].startupProbe.periodSeconds * pod.containers[0].startupProbe.failureThreshold >= 600, "ten minutes at least to load the model");
    assert.equal(pod.initContainers[0].command.at(-2), "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ");
    assert.equal(pod.runtimeClassName, "nvidia", "single node: K3s's nvidia runtime class");
    assert.equal(vllm.spec!.strategy.type, "Recreate", "one GPU: the old pod lets it go first");
    assert.deepEqual(find("Service", "vllm").spec!.selector, vllm.spec!.selector.matchLabels);

    const multi = build(join(out, "overlays", "multi-node"));
    const spread = multi.find((x) => x.kind === "Deployment")!.spec!.template.spec;
    assert.deepEqual([spread.runtimeClassName, spread.nodeSelector, spread.tolerations[0].key], [undefined, { "nvidia.com/gpu.present": "true" }, "nvidia.com/gpu"]);
  });

  it("refuses a folder that is not empty (unless --force) and a model that does not fit, writing nothing", async () => {
    const again = await paddock(["kube", "render", "--gpu-vram", "16", "--out", out], { env });
    assert.equal(again.code, 125);
    assert.match(again.stderr, /is not empty[\s\S]*--force/);
    const forced = await paddock(["kube", "render", "--gpu-vram", "24", "--out", out, "--force", "--json"], { env });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((JSON.parse(forced.stdout) as { files: string[] }).files.length, 13);
    const args = build(join(out, "overlays", "single-node")).find((x) => x.kind === "Deployment")!.spec!.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf("--max-model-len") + 1], "32768", "re-rendered for 24 GiB");
    const big = join(dir, "big");
    const tooLarge = await paddock(["kube", "render", "--gpu-vram", "16", "--model", "qwen2.5-coder-32b-awq", "--out", big], { env });
    assert.equal(tooLarge.code, 125);
    assert.match(tooLarge.stderr, /does not fit 16 GiB/);
    assert.ok(!existsSync(big) || readdirSync(big).length === 0);
  });

  it("paddock-system: the gateway's replicas share PostgreSQL, the secrets stay out of the manifests and across renders, and the overlays expose or sandbox", async () => {
    const tree = join(dir, "system");
    const r = await paddock(["kube", "render", "--gpu-vram", "16", "--out", tree, "--gateway-replicas", "3", "--image", "registry.example/paddock:1"], { env });
    assert.equal(r.code, 0, r.stderr);
    const secrets = join(tree, "base", "secrets.env");
    assert.equal(statSync(secrets).mode & 0o777, 0o600);
    const before = readFileSync(secrets, "utf8");
    assert.match(before, /^POSTGRES_PASSWORD=\S{20,}\nPADDOCK_DATABASE_URL=postgres:\/\/paddock:\S+@postgres\.paddock-system\.svc:5432\/paddock\nPADDOCK_MASTER_KEY=sk-\S+\n$/);
    assert.equal(readFileSync(join(tree, "base", ".gitignore"), "utf8"), "secrets.env\n");
    const single = build(join(tree, "overlays", "single-node"));
    const find = (kind: string, name: string) => single.find((x) => x.kind === kind && x.metadata.name === name)!;
    const gateway = find("Deployment", "paddock-gateway").spec!;
    assert.equal(gateway.replicas, 3);
    const container = gateway.template.spec.containers[0];
    assert.equal(container.image, "registry.example/paddock:1");
    assert.deepEqual(container.args, ["gateway", "--config", "/etc/paddock/paddock.yaml", "--kube-namespace", "paddock-agents"]);
    // The Secret kustomize generated from secrets.env: the manifests only name it.
    const secret = single.find((x) => x.kind === "Secret")!;
    assert.match(secret.metadata.name, /^paddock-secrets-/);
    assert.deepEqual(container.env.find((e: { name: string }) => e.name === "PADDOCK_DATABASE_URL").valueFrom.secretKeyRef.name, secret.metadata.name);
    assert.ok(!JSON.stringify(single.filter((x) => x.kind !== "Secret")).includes(before.split("\n")[0]!.split("=")[1]!), "the password is in no other object");
    assert.deepEqual(gateway.template.metadata.annotations, { "prometheus.io/scrape": "true", "prometheus.io/port": "4000", "prometheus.io/path": "/metrics" });
    assert.deepEqual(find("Deployment", "paddock-egress").spec!.template.spec.containers[0].args.slice(0, 4), ["egress", "serve", "--kube-namespace", "paddock-agents"]);
    assert.deepEqual(find("Deployment", "paddock-controller").spec!.template.spec.containers[0].args.slice(0, 4), ["up", "--kube", "--namespace", "paddock-agents"]);
    assert.equal(find("StatefulSet", "postgres").spec!.replicas, 1);
    assert.deepEqual(find("Service", "paddock-gateway").spec!.ports[0], { name: "http", port: 4000, targetPort: 4000, nodePort: 30400 });
    for (const d of single.filter((x) => x.kind === "Deployment" && x.metadata.namespace === "paddock-system")) {
      assert.deepEqual(d.spec!.template.spec.containers[0].securityContext.capabilities, { drop: ["ALL"] }, d.metadata.name);
      assert.equal(d.spec!.template.spec.containers[0].securityContext.readOnlyRootFilesystem, true, d.metadata.name);
    }
    const gvisor = build(join(tree, "overlays", "gvisor"));
    assert.deepEqual(gvisor.find((x) => x.kind === "RuntimeClass"), { apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name: "gvisor", labels: { "app.kubernetes.io/part-of": "paddock" } }, handler: "runsc" });
    assert.equal(gvisor.find((x) => x.metadata.name === "paddock-controller" && x.kind === "Deployment")!.spec!.template.spec.containers[0].args.at(-1), "--runtime-class=gvisor");

    // A second render keeps the passwords (a PostgreSQL holding data must keep working); an external database replaces the StatefulSet.
    const again = await paddock(["kube", "render", "--gpu-vram", "16", "--out", tree, "--force", "--database-url", "postgres://u:p@db.example:5432/paddock"], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(secrets, "utf8"), before);
    assert.ok(existsSync(join(tree, "base", "postgres.yaml")), "a file of an earlier render is left (--force replaces paddock's files, and removes none)");
    const external = join(dir, "external");
    assert.equal((await paddock(["kube", "render", "--gpu-vram", "16", "--out", external, "--database-url", "postgres://u:p@db.example:5432/paddock"], { env })).code, 0);
    assert.match(readFileSync(join(external, "base", "secrets.env"), "utf8"), /PADDOCK_DATABASE_URL=postgres:\/\/u:p@db\.example:5432\/paddock/);
    assert.ok(!build(join(external, "overlays", "multi-node")).some((x) => x.kind === "StatefulSet"));
    const bad = await paddock(["kube", "render", "--gpu-vram", "16", "--out", join(dir, "bad"), "--database-url", "mysql://x"], { env });
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /--database-url.*not a PostgreSQL URL/);
  });
});
