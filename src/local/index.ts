import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadPaddockConfig, type PaddockConfig } from "../config/index.js";
import { EgressService } from "../egress/index.js";
import { Executor } from "../executor/index.js";
import { Gateway, gatewayAccess, parseGatewayConfig } from "../gateway/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { ScriptedModel, SMOKE_MODEL, smokeTestScript } from "../scripted/index.js";
import { openStore, type Store } from "../store/index.js";

/** paddock's parts for one-shot tasks in this process: the store, the gateway (on a private socket), the egress proxy, and the executor. */
export interface LocalPaddock {
  config: PaddockConfig;
  store: Store;
  gateway: Gateway;
  executor: Executor;
  /** The built-in scripted model, when no paddock.yaml names a model server. */
  smoke?: ScriptedModel;
  close(): Promise<void>;
}

export async function startLocal(options: { configFile?: string; paths: PaddockPaths; log?: (fields: Record<string, unknown>) => void }): Promise<LocalPaddock> {
  const config = await loadPaddockConfig(options.configFile);
  const log = options.log ?? (() => undefined);
  const smoke = config.gateway ? undefined : await new ScriptedModel({ model: SMOKE_MODEL, maxModelLen: 65536, script: smokeTestScript() }).listen();
  // Agents' keys only mean something when the gateway checks keys: without a master key of the file's, it gets one of its own.
  const masterKey = `sk-${randomBytes(24).toString("base64url")}`;
  const gatewayConfig = config.gateway
    ? { ...config.gateway, general_settings: { ...config.gateway.general_settings, master_key: config.gateway.general_settings.master_key ?? masterKey } }
    : parseGatewayConfig({
      model_list: [{ model_name: SMOKE_MODEL, litellm_params: { model: `openai/${SMOKE_MODEL}`, api_base: smoke!.url }, model_info: { max_output_tokens: 4096 } }],
      general_settings: { master_key: masterKey },
    });
  const database = gatewayConfig.general_settings.database_url ?? undefined;
  const store = openStore(options.paths, database);
  const gateway = new Gateway(gatewayConfig, store, log);
  const runDir = join(options.paths.runtime, "runs");
  mkdirSync(runDir, { recursive: true });
  // A socket per process: several `paddock run` may share the host.
  const socket = join(runDir, `gateway-${process.pid}.sock`);
  await gateway.listenSocket(socket);
  const egress = new EgressService(options.paths, { database });
  const executor = new Executor({ store, paths: options.paths, gateway: gatewayAccess(gateway, socket), egress, settings: config.executor, log });
  return {
    config,
    store,
    gateway,
    executor,
    smoke,
    async close() {
      await gateway.close();
      await egress.close();
      await smoke?.close();
      await store.close();
      rmSync(socket, { force: true });
    },
  };
}
