import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { freePort, TEST_LLAMA_SERVER, TEST_MODEL } from "./helpers.js";

export interface LlamaServer {
  /** The OpenAI-compatible base, http://127.0.0.1:PORT/v1. */
  url: string;
  root: string;
  child: ChildProcess;
  output: () => string;
  close: () => Promise<void>;
}

/**
 * llama.cpp's own llama-server (built by .ci/peers) with a real model on
 * 127.0.0.1, once its /health says the model is loaded (or, with `until:
 * "loading"`, as soon as it answers 503 while loading). `context` is each
 * slot's window. With `embeddings`, it serves /v1/embeddings (mean pooling) instead of chats.
 */
export async function startLlamaServer(options: { context?: number; parallel?: number; alias?: string; until?: "loading" | "serving"; embeddings?: boolean } = {}): Promise<LlamaServer> {
  if (!existsSync(TEST_LLAMA_SERVER) || !existsSync(TEST_MODEL)) throw new Error(`${TEST_LLAMA_SERVER} or ${TEST_MODEL} is missing: run bash .ci/peers (npm test runs it first)`);
  const { context = 512, parallel = 1, alias = "smollm2" } = options;
  const port = await freePort();
  const args = ["-m", TEST_MODEL, "--host", "127.0.0.1", "--port", String(port), "--ctx-size", String(context * parallel), "--parallel", String(parallel), "--threads", "2", "--alias", alias, ...(options.embeddings ? ["--embeddings", "--pooling", "mean"] : [])];
  const child = spawn(TEST_LLAMA_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const root = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`llama-server exited (${child.exitCode}):\n${output.slice(-2000)}`);
    // 503 while the model loads, 200 once it serves.
    const status = await fetch(`${root}/health`).then((r) => r.status, () => 0);
    if (status === 200 || (status === 503 && options.until === "loading")) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`llama-server did not become ready in 120 s:\n${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url: `${root}/v1`, root, child, output: () => output, close };
}

/** How many tokens llama.cpp's own tokenizer makes of a text. */
export async function tokenCount(server: LlamaServer, content: string): Promise<number> {
  const res = await fetch(`${server.root}/tokenize`, { method: "POST", body: JSON.stringify({ content }) });
  return ((await res.json()) as { tokens: unknown[] }).tokens.length;
}
