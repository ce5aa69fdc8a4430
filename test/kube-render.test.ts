import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
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
    assert.match(r.stdout, /apply: kubectl apply -k .*overlays\/single-node/);
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
    assert.ok(single.filter((x) => x.metadata.namespace === "paddock-agents").every((x) => ["NetworkPolicy", "ServiceAccount"].includes(x.kind)), "nothing runs in the agents' namespace but what paddock spawns");

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
    assert.equal((JSON.parse(forced.stdout) as { files: string[] }).files.length, 6);
    const args = build(join(out, "overlays", "single-node")).find((x) => x.kind === "Deployment")!.spec!.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf("--max-model-len") + 1], "32768", "re-rendered for 24 GiB");
    const big = join(dir, "big");
    const tooLarge = await paddock(["kube", "render", "--gpu-vram", "16", "--model", "qwen2.5-coder-32b-awq", "--out", big], { env });
    assert.equal(tooLarge.code, 125);
    assert.match(tooLarge.stderr, /does not fit 16 GiB/);
    assert.ok(!existsSync(big) || readdirSync(big).length === 0);
  });
});
