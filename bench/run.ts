const BENCHMARKS: Record<string, () => Promise<unknown>> = {
  "sandbox-start": () => import("./sandbox-start.js").then((m) => m.main()),
  egress: () => import("./egress.js").then((m) => m.main()),
  "egress-credentials": () => import("./egress-credentials.js").then((m) => m.main()),
  gateway: () => import("./gateway.js").then((m) => m.main()),
  supervisor: () => import("./supervisor.js").then((m) => m.main()),
  "agent-run": () => import("./agent-run.js").then((m) => m.main()),
  a2a: () => import("./a2a.js").then((m) => m.main()),
  workspace: () => import("./workspace.js").then((m) => m.main()),
  unreachable: () => import("./unreachable.js").then((m) => m.main()),
  litellm: () => import("./litellm.js").then((m) => m.main()),
  dashboard: () => import("./dashboard.js").then((m) => m.main()),
  eval: () => import("./eval.js").then((m) => m.main()),
  kube: () => import("./kube.js").then((m) => m.main()),
  "kube-a2a": () => import("./kube-a2a.js").then((m) => m.main()),
  // paddock beside the peers users would pick instead: LiteLLM's proxy, then smokescreen, tinyproxy and squid.
  peers: async () => {
    await import("./litellm.js").then((m) => m.main());
    await import("./egress.js").then((m) => m.main());
  },
};

const name = process.argv[2];
if (!name || !BENCHMARKS[name]) {
  console.error(`usage: npm run bench -- NAME\n  benchmarks: ${Object.keys(BENCHMARKS).join(", ")}`);
  process.exit(2);
}
await BENCHMARKS[name]!();
