import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Card } from "../src/card/index.js";
import { CardSchema } from "../src/card/index.js";
import { EgressService } from "../src/egress/index.js";
import { Executor, ExecutorSettingsSchema } from "../src/executor/index.js";
import { Gateway, gatewayAccess, parseGatewayConfig } from "../src/gateway/index.js";
import { paddockPaths, type PaddockPaths } from "../src/paths/index.js";
import { ScriptedModel, type ScriptedModelOptions, type ScriptedTurn } from "../src/scripted/index.js";
import { openStoreAt, type Store } from "../src/store/index.js";
import { eventually } from "./egress-helpers.js";
import { paddockCgroups, scratch, testStore } from "./helpers.js";

export interface AgentStack {
  dir: string;
  paths: PaddockPaths;
  model: ScriptedModel;
  gateway: Gateway;
  store: Store;
  egress: EgressService;
  executor: Executor;
  /** Another executor on the same gateway and store, with other settings. */
  executorWith(settings: Record<string, unknown>): Executor;
  logs: Array<Record<string, unknown>>;
  /** A validated card in this stack's scratch folder, with a fresh workspace. */
  card(fields: Record<string, unknown>): Card;
  close(): Promise<void>;
}

/** The real gateway (on a socket, as agents reach it), egress proxy, store and executor, in front of a scripted upstream. */
export async function startAgentStack(options: { model?: ScriptedModelOptions; deployment?: Record<string, unknown>; settings?: Record<string, unknown> } = {}): Promise<AgentStack> {
  const { dir, env } = scratch("paddock-agents-");
  const paths = paddockPaths(env);
  mkdirSync(paths.runtime, { recursive: true });
  const model = await new ScriptedModel({ model: "qwen-coder", ...options.model }).listen();
  const location = testStore(paths);
  const store = openStoreAt(location);
  const logs: Array<Record<string, unknown>> = [];
  const { litellm_params, ...rest } = (options.deployment ?? {}) as { litellm_params?: Record<string, unknown> };
  const config = parseGatewayConfig({
    model_list: [{ model_name: "qwen-coder", litellm_params: { model: "openai/qwen-coder", api_base: model.url, ...litellm_params }, ...rest }],
    general_settings: { master_key: "sk-test-master" },
  });
  const gateway = new Gateway(config, store, (f) => logs.push(f));
  const socket = join(paths.runtime, "gateway.sock");
  await gateway.listenSocket(socket);
  const egress = new EgressService(paths, { database: location });
  const executorWith = (settings: Record<string, unknown>) => new Executor({ store, paths, gateway: gatewayAccess(gateway, socket), egress, settings: ExecutorSettingsSchema.parse(settings), log: (f) => logs.push(f) });
  const executor = executorWith(options.settings ?? {});
  let cards = 0;
  return {
    dir,
    paths,
    model,
    gateway,
    store,
    egress,
    executor,
    executorWith,
    logs,
    card(fields) {
      const workspace = join(dir, `workspace-${++cards}`);
      mkdirSync(workspace, { recursive: true });
      return CardSchema.parse({ agent_id: `agent-${cards}`, workspace, resource_limits: { memory_mb: 2048, max_processes: 256, max_open_files: 4096 }, ...fields });
    },
    async close() {
      await gateway.close();
      await egress.close();
      await model.close();
      await store.close();
      // The agents' cgroups go once the host has reaped their last processes; the next test file checks that none is left.
      await eventually(async () => paddockCgroups().length === 0 || undefined, 60_000);
    },
  };
}

/**
 * The real-agent tests' task, in the agent's own tool names: write a marker
 * file, fetch a page from a host no card allows, show the file and the uid,
 * then the result. The tools a request offers tell the agents apart.
 */
export function markerScript(agent: "opencode" | "claude-code", marker: string): ScriptedTurn[] {
  const file = `/workspace/${marker}.txt`;
  const page = "http://denied.example.org/secrets";
  const show = { command: `cat ${file} && id -u`, description: "Show the file" };
  const [tools, calls] =
    agent === "opencode"
      ? [/(^|,)write(,|$)/, [["write", { filePath: file, content: `${marker}\n` }], ["webfetch", { url: page, format: "text" }], ["bash", show]] as const]
      : [/(^|,)Write(,|$)/, [["Write", { file_path: file, content: `${marker}\n` }], ["WebFetch", { url: page, prompt: "What does it say?" }], ["Bash", show]] as const];
  return [
    { system: /title generator/i, content: "A test title", repeat: true },
    ...calls.map(([name, args]): ScriptedTurn => ({ tools, tool_calls: [{ name, arguments: { ...args } }] })),
    { content: 'Wrote the file.\n```json\n{"outcome": "COMPLETE", "summary": "wrote the marker file"}\n```', repeat: true },
  ];
}
