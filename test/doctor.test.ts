import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { paddock, scratch } from "./helpers.js";

describe("paddock doctor", () => {
  const { dir, env } = scratch("paddock-doctor-");
  const cliEnv = { ...env, HOME: dir, XDG_CONFIG_HOME: join(dir, "config") };

  it("passes on this host, having started a real sandbox and found both agent binaries", async () => {
    const r = await paddock(["doctor", "--json"], { env: cliEnv, cwd: dir });
    assert.equal(r.code, 0, r.stdout);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; detail: string }>;
    assert.deepEqual(checks.map((c) => c.name), ["bubblewrap", "user namespaces", "cgroups", "socat and nsenter", "seccomp", "a real sandbox", "gvisor runsc", "opencode binary", "claude-code binary", "leftovers", "model servers"]);
    assert.match(checks.find((c) => c.name === "a real sandbox")!.detail, /started and ended a bwrap sandbox/);
    assert.match(checks.find((c) => c.name === "opencode binary")!.detail, /^\d+\.\d+\.\d+ /);
  });

  it("names what is missing and how to fix it, and exits 1", async () => {
    const config = join(dir, "paddock.yaml");
    writeFileSync(config, "model_list:\n  - model_name: qwen-coder\n    litellm_params: { model: openai/qwen-coder, api_base: http://127.0.0.1:9/v1 }\n");
    const r = await paddock(["doctor", "--config", config], { env: { ...cliEnv, PADDOCK_BWRAP: "/nonexistent/bwrap" }, cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /✖ bubblewrap: PADDOCK_BWRAP=\/nonexistent\/bwrap is not an executable/);
    assert.match(r.stdout, /✖ model servers: .*paddock\.yaml: qwen-coder at http:\/\/127\.0\.0\.1:9\/v1: .*\n\s+fix: start the model server/);
    assert.match(r.stdout, /✔ cgroups/);
  });
});
