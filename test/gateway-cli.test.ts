import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ScriptedModel } from "../src/scripted/index.js";
import { CLI, freePort, paddock, ROOT, scratch, waitForPort } from "./helpers.js";

describe("paddock gateway", () => {
  it("refuses an invalid config, naming file:line:column and the field, an unset os.environ secret, and the closest known key", async () => {
    const { dir, env } = scratch();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "model_list:\n  - model_name: m\n    litellm_params:\n      model: bedrock/m\n      api_base: not-a-url\ngeneral_settings:\n  master_key: os.environ/PADDOCK_TEST_UNSET_KEY\npaddock_settings:\n  queue_limt: 3\n");
    const r = await paddock(["gateway", "--config", file], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /bad\.yaml:4:7: model_list\[0\]\.litellm_params\.model: must be openai\/NAME/);
    assert.match(r.stderr, /bad\.yaml:5:7: model_list\[0\]\.litellm_params\.api_base: /);
    assert.match(r.stderr, /bad\.yaml:7:3: general_settings\.master_key: refers to the environment variable PADDOCK_TEST_UNSET_KEY, which is not set/);
    assert.match(r.stderr, /bad\.yaml:9:3: paddock_settings\.queue_limt: unknown field \(did you mean 'queue_limit'\?\)/);
    assert.equal(r.stderr.match(/bad\.yaml/g)?.length, 4, "each problem once, the file named once per line");
  });

  it("accepts the example config, serves a request with the master key from the environment, and stops on SIGTERM", async () => {
    const { dir, env } = scratch();
    const model = await new ScriptedModel({ model: "qwen-coder", script: [{ content: "served", repeat: true }] }).listen();
    const port = await freePort();
    const example = (await import("node:fs")).readFileSync(join(ROOT, "examples", "gateway.yaml"), "utf8");
    const file = join(dir, "gateway.yaml");
    writeFileSync(file, example.replace("http://127.0.0.1:8000/v1", model.url).replace("127.0.0.1:4000", `127.0.0.1:${port}`));
    const server = spawn(process.execPath, [CLI, "gateway", "--config", file], { env: { ...env, PADDOCK_MASTER_KEY: "sk-from-env" }, stdio: ["ignore", "ignore", "pipe"] });
    let logs = "";
    server.stderr.on("data", (d: Buffer) => (logs += d.toString()));
    try {
      await waitForPort(port);
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { Authorization: "Bearer sk-from-env" }, body: JSON.stringify({ model: "qwen-coder", messages: [{ role: "user", content: "hi" }] }) });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content, "served");
      assert.match(logs, /"msg":"deployment".*"context_window":20480/);
    } finally {
      server.kill("SIGTERM");
      await model.close();
    }
    assert.equal(await new Promise((resolve) => server.once("exit", resolve)), 0, logs);
  });
});
