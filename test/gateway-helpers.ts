import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { Gateway, parseGatewayConfig } from "../src/gateway/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { ScriptedModel, type ScriptedModelOptions } from "../src/scripted/index.js";
import { openStoreAt, type Store } from "../src/store/index.js";
import { scratch, testStore } from "./helpers.js";

export const MASTER = "sk-test-master";

export interface GatewayFixture {
  gateway: Gateway;
  store: Store;
  baseUrl: string;
  logs: Array<Record<string, unknown>>;
  openai: (key?: string) => OpenAI;
  anthropic: (key?: string) => Anthropic;
  close: () => Promise<void>;
}

/** A real gateway on 127.0.0.1 with its own store, in front of the given config. */
export async function startGateway(config: Record<string, unknown>): Promise<GatewayFixture> {
  const { env } = scratch("paddock-gateway-");
  const store = openStoreAt(testStore(paddockPaths(env)));
  const logs: Array<Record<string, unknown>> = [];
  const gateway = new Gateway(parseGatewayConfig({ general_settings: { master_key: MASTER }, ...config }), store, (f) => logs.push(f));
  const { port } = await gateway.listen(0, "127.0.0.1");
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    gateway,
    store,
    baseUrl,
    logs,
    openai: (key = MASTER) => new OpenAI({ apiKey: key, baseURL: `${baseUrl}/v1`, maxRetries: 0 }),
    anthropic: (key = MASTER) => new Anthropic({ apiKey: key, baseURL: baseUrl, maxRetries: 0 }),
    close: async () => {
      await gateway.close();
      await store.close();
    },
  };
}

export async function scripted(options: ScriptedModelOptions = {}, port = 0): Promise<ScriptedModel> {
  return new ScriptedModel({ model: "qwen-coder", ...options }).listen(port);
}

export function deployment(model: ScriptedModel, extra: Record<string, unknown> = {}, name = "qwen-coder") {
  const { litellm_params, ...rest } = extra as { litellm_params?: Record<string, unknown> };
  return { model_name: name, litellm_params: { model: `openai/${model.model}`, api_base: model.url, api_key: "none", ...litellm_params }, ...rest };
}

export async function post(baseUrl: string, path: string, body: string, key = MASTER): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
