import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { isPaddockError } from "../errors/index.js";
import { paddockPaths } from "../paths/index.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

type Probe = () => Promise<Omit<Check, "name">> | Omit<Check, "name">;

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check this host: bubblewrap, user namespaces, cgroups, socat, a real sandbox, the agent binaries, the model servers; prints fixes")
    .option("--config <file>", "paddock.yaml whose model servers to check (default: as paddock run finds it)")
    .option("--json", "print the checks as JSON")
    .option("--kube", "check the Kubernetes cluster instead: context, nodes and GPUs, device plugin, runtime classes, network policy, pod security, storage, agent-sandbox, vLLM")
    .option("--context <name>", "with --kube: the kubeconfig context")
    .option("--namespace <ns>", "with --kube: the agents' namespace", "paddock-agents")
    .addHelpText("after", "\nExit status: 0 every check passed, 1 one failed (each failure prints its fix).")
    .action(async (opts: { config?: string; json?: boolean; kube?: boolean; context?: string; namespace: string }) => {
      const checks: Check[] = [];
      for (const [name, probe] of opts.kube ? await kubeProbes(opts.context, opts.namespace) : probes(opts.config)) {
        let result: Omit<Check, "name">;
        try {
          result = await probe();
        } catch (err) {
          result = { ok: false, detail: isPaddockError(err) ? err.message : (err as Error).message, fix: isPaddockError(err) ? err.hint : (err as { hint?: string }).hint };
        }
        checks.push({ name, ...result });
        if (!opts.json) process.stdout.write(`${result.ok ? "✔" : "✖"} ${name}: ${result.detail}\n${result.fix ? `    ${result.ok ? "note" : "fix"}: ${result.fix}\n` : ""}`);
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
    });
}

/** The cluster's checks; a cluster that cannot be reached at all is the one failing check. */
async function kubeProbes(context: string | undefined, namespace: string): Promise<Array<[string, Probe]>> {
  const { kubeClients, kubeProbes: cluster } = await import("../kube/index.js");
  try {
    return cluster(await kubeClients(context), namespace);
  } catch (err) {
    return [["context", () => Promise.reject(err)]];
  }
}

function probes(configFile?: string): Array<[string, Probe]> {
  const version = (file: string, args = ["--version"]) => execFileSync(file, args, { encoding: "utf8", timeout: 15_000, stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n")[0]!;
  return [
    ["bubblewrap", async () => {
      const { BWRAP, hostProgram } = await import("../sandbox/index.js");
      const bwrap = hostProgram(BWRAP);
      return { ok: true, detail: `${version(bwrap)} (${bwrap})` };
    }],
    ["user namespaces", async () => {
      const { userNamespaceProblem } = await import("../sandbox/index.js");
      const problem = userNamespaceProblem();
      return problem ? { ok: false, detail: problem.message, fix: problem.hint } : { ok: true, detail: "available" };
    }],
    ["cgroups", async () => {
      const { planCgroups } = await import("../cgroups/index.js");
      const plan = planCgroups();
      return { ok: true, detail: `cgroup v${plan.version}: memory, cpu and pids limits are enforced` };
    }],
    ["socat and nsenter", async () => {
      const { hostProgram, NSENTER, SOCAT } = await import("../sandbox/index.js");
      return { ok: true, detail: `${hostProgram(SOCAT)}, ${hostProgram(NSENTER)} (the network exits of sandboxes)` };
    }],
    ["seccomp", async () => {
      const { hostArch, kernelSeccomp } = await import("../seccomp/index.js");
      const kernel = kernelSeccomp();
      const arch = hostArch();
      if (!kernel.filters || !kernel.errno) return { ok: false, detail: "this kernel has no seccomp filters with the errno action", fix: "use a kernel built with CONFIG_SECCOMP_FILTER (every distribution kernel is); or, knowingly, cards with seccomp: unconfined and --allow-unconfined-seccomp" };
      if (!arch) return { ok: false, detail: `paddock has no filter for ${process.arch}`, fix: "cards need seccomp: unconfined and --allow-unconfined-seccomp here (x86-64 and aarch64 are supported)" };
      return { ok: true, detail: `kernel filters supported; sandboxes get the 'default' profile on ${arch} (cards may ask for 'strict')`, fix: "a card with seccomp: unconfined runs only with --allow-unconfined-seccomp, and is warned about" };
    }],
    ["a real sandbox", async () => {
      const { CardSchema } = await import("../card/index.js");
      const { createSandbox, prepareSandbox } = await import("../sandbox/index.js");
      const workspace = mkdtempSync(join(tmpdir(), "paddock-doctor-"));
      try {
        const card = CardSchema.parse({ agent_id: "paddock-doctor", workspace, kind: "command", command: ["sh", "-c", "test \"$(id -u)\" = 1000 && test -d /workspace && grep -q '^Seccomp:[[:space:]]*2' /proc/self/status"], tools: ["sh", "coreutils", "grep"] });
        const sandbox = createSandbox(prepareSandbox(card, { stdio: "ignore", paths: paddockPaths() }));
        await sandbox.start();
        const exit = await sandbox.wait();
        return exit.code === 0 ? { ok: true, detail: `started and ended a bwrap sandbox (uid 1000, seccomp filter on) in ${exit.durationMs} ms` } : { ok: false, detail: `the sandbox's check failed (${exit.cause}, code ${exit.code})`, fix: "run `paddock exec --card examples/cards/demo.yaml -- sh` to see its output" };
      } finally {
        rmSync(workspace, { recursive: true, force: true });
      }
    }],
    ["gvisor runsc", async () => {
      const { hostProgram, IP, RUNSC, runscProblem } = await import("../sandbox/index.js");
      let runsc: string;
      try {
        runsc = hostProgram(RUNSC);
      } catch (err) {
        return { ok: true, detail: "not installed: cards with backend: gvisor cannot run here", fix: isPaddockError(err) ? err.hint : undefined };
      }
      const problem = runscProblem(runsc, paddockPaths().runtime);
      if (problem) return { ok: false, detail: problem.message, fix: problem.hint };
      try {
        // gVisor sandboxes with exits bring up loopback in their network namespace with it.
        hostProgram(IP);
      } catch (err) {
        return { ok: false, detail: `${runsc} runs, but gVisor agents with network exits need ip`, fix: isPaddockError(err) ? err.hint : undefined };
      }
      return { ok: true, detail: `${runsc} runs and lists directories; its sandboxes get the same network exits as bwrap's` };
    }],
    ...(["opencode", "claude-code"] as const).map((kind): [string, Probe] => [
      `${kind} binary`,
      async () => {
        const { agentBinary } = await import("../agents/index.js");
        const binary = agentBinary(kind);
        return { ok: true, detail: `${version(binary)} (${binary})` };
      },
    ]),
    ["leftovers", async () => {
      const { openStore } = await import("../store/index.js");
      const { callDaemon, describeLeftovers, findLeftovers } = await import("../supervisor/index.js");
      const paths = paddockPaths();
      const store = openStore(paths);
      try {
        const daemonRunning = await callDaemon(paths, "GET", "/v1/agents", undefined, undefined, {}).then(() => true, () => false);
        const said = describeLeftovers(await findLeftovers(paths, store, { inspect: false, daemonRunning }));
        // Left behind is not broken: reported, never a failed check.
        return said ? { ok: true, detail: `left behind by earlier runs: ${said}`, fix: "paddock gc removes them (paddock gc --dry-run says what it would do)" } : { ok: true, detail: "nothing left behind by earlier runs" };
      } finally {
        await store.close();
      }
    }],
    ["model servers", async () => {
      const { loadPaddockConfig } = await import("../config/index.js");
      const config = await loadPaddockConfig(configFile);
      if (!config.gateway) return { ok: true, detail: "no paddock.yaml: paddock run uses its built-in scripted model (a smoke test)", fix: "for a real model, write a paddock.yaml naming your vLLM or llama.cpp server (see examples/paddock.yaml)" };
      const { probeUpstream } = await import("../gateway/index.js");
      const failures: string[] = [];
      const reached: string[] = [];
      const advice: string[] = [];
      for (const d of config.gateway.model_list) {
        const base = d.litellm_params.api_base.replace(/\/+$/, "");
        try {
          const facts = await probeUpstream(base, d.litellm_params.api_key);
          const slots = facts.slots === undefined ? "" : `, ${facts.slots} slot${facts.slots === 1 ? "" : "s"}`;
          reached.push(`${d.model_name} at ${base}: ${facts.server} serving ${facts.models.join(", ") || "(no model listed)"}, context ${facts.context ?? "unknown"}${slots}`);
          const parallel = d.litellm_params.max_parallel_requests;
          if (facts.slots !== undefined && (parallel === undefined || parallel > facts.slots)) {
            advice.push(`set max_parallel_requests: ${facts.slots} for ${d.model_name} (${base} decodes ${facts.slots} at once; more would wait inside the server, past the gateway's queue and timeouts)`);
          }
        } catch (err) {
          failures.push(`${d.model_name} at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
        }
      }
      return failures.length === 0
        ? { ok: true, detail: `${config.file}: ${reached.join("; ")}`, ...(advice.length ? { fix: advice.join("; ") } : {}) }
        : { ok: false, detail: `${config.file}: ${failures.join("; ")}`, fix: "start the model server, or correct api_base (OpenAI-compatible servers answer GET <api_base>/models)" };
    }],
  ];
}
