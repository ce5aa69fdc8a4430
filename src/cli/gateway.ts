import type { Command } from "commander";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";

export function registerGateway(program: Command): void {
  program
    .command("gateway")
    .description("run the LLM gateway: OpenAI and Anthropic APIs in front of your model servers (LiteLLM config format)")
    .requiredOption("--config <file>", "gateway config: LiteLLM's model_list, litellm_settings, general_settings (+ paddock_settings)")
    .option("--listen <host:port>", "override paddock_settings.listen")
    .option("--kube-namespace <ns>", "on a cluster: an agent's key is taken only from the address of one of its pods in this namespace")
    .option("--context <name>", "with --kube-namespace: the kubeconfig context (default: the current one, or the pod's ServiceAccount)")
    .action(async (opts: { config: string; listen?: string; kubeNamespace?: string; context?: string }) => {
      try {
        const { Gateway, loadGatewayConfig } = await import("../gateway/index.js");
        const { openStore } = await import("../store/index.js");
        const config = await loadGatewayConfig(opts.config);
        const store = openStore(paddockPaths(), config.general_settings.database_url ?? undefined);
        const gateway = new Gateway(config, store);
        const pods = opts.kubeNamespace ? await watchPods(opts.kubeNamespace, opts.context) : undefined;
        if (pods) gateway.requireOwnPod((agentId, address) => pods.fromOwnPod(agentId, address));
        const listen = opts.listen ?? config.paddock_settings.listen;
        const i = listen.lastIndexOf(":");
        const address = await gateway.listen(Number(listen.slice(i + 1)), listen.slice(0, i).replace(/^\[|\]$/g, ""));
        process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "gateway listening", listen: `${address.address}:${address.port}`, models: gateway.router.modelNames() })}\n`);
        await new Promise<void>((resolve) => {
          for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
        });
        await pods?.stop();
        await gateway.close();
        await store.close();
        process.exit(EXIT.ok);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

async function watchPods(namespace: string, context?: string) {
  const { kubeClients, watchAgentIdentities } = await import("../kube/index.js");
  return watchAgentIdentities(await kubeClients(context), namespace);
}
