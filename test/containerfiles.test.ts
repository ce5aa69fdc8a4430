import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { validate } from "dockerfile-utils";
import { TASK_START, WARM_START } from "../src/kube/index.js";
import { ROOT } from "./helpers.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string>; optionalDependencies: Record<string, string> };
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

/**
 * No container engine runs here and no registry is reachable for a base image, so the Containerfiles are not built:
 * they are linted (dockerfile-utils, the validator of VS Code's Dockerfile support) and held to what paddock's pods
 * expect of them: a numeric non-root user (runAsNonRoot checks it), the agents' binaries where the adapters call them,
 * and the versions paddock itself ships.
 */
describe("the Containerfiles", () => {
  it("pass the linter, which does catch a broken one", () => {
    for (const file of ["Containerfile", "images/agent.Containerfile"]) assert.deepEqual(validate(read(file)).map((d) => `${file}:${d.range.start.line + 1}: ${d.message}`), []);
    assert.ok(validate("RUN true\nUSER\n").length >= 2, "the linter reports a missing FROM and an empty USER");
  });

  it("run as uid 10001 in every image a pod runs, with the versions and paths paddock's adapters use", () => {
    const paddock = read("Containerfile");
    assert.match(paddock, new RegExp(`ARG PADDOCK_VERSION=${pkg.version.replace(/\./g, "\\.")}\\n`));
    assert.match(paddock.trim().split("\n").filter((l) => l.startsWith("USER")).at(-1)!, /^USER 10001:10001$/);
    const agents = read("images/agent.Containerfile");
    assert.match(agents, new RegExp(`ARG OPENCODE_VERSION=${pkg.optionalDependencies["opencode-linux-x64"]}\\n`));
    assert.match(agents, new RegExp(`ARG CLAUDE_CODE_VERSION=${pkg.dependencies["@anthropic-ai/claude-code"]}\\n`));
    const stages = [...agents.matchAll(/^FROM (\S+) AS (\S+)$/gm)].map((m) => [m[2], m[1]]);
    assert.deepEqual(stages.map(([name]) => name), ["fetch", "command", "opencode", "claude-code"]);
    assert.match(agents, /USER 10001:10001/);
    assert.match(agents, /\/opt\/paddock\/bin\/opencode$/m);
    assert.match(agents, /\/opt\/paddock\/bin\/claude$/m);
  });

  it("hold the warm-pool waiter and the task launcher where pods run them, with all they import, and the Node that runs them", () => {
    const agents = read("images/agent.Containerfile");
    const copy = agents.match(/^COPY ((?:dist\/\S+ )+)(\/opt\/paddock\/lib\/kube\/)$/m);
    assert.ok(copy, "the agent image copies paddock's pod-side programs from dist/");
    const files = copy[1]!.trim().split(" ");
    for (const file of files) assert.ok(existsSync(join(ROOT, file)), `${file} is built`);
    // What they import is copied too, and nothing but node: builtins (the image has no node_modules).
    for (const file of files) {
      for (const [, spec] of read(file).matchAll(/^import .* from "([^"]+)";$/gm)) {
        if (spec!.startsWith("node:")) continue;
        assert.ok(spec!.startsWith("./") && files.includes(`dist/src/kube/${spec!.slice(2)}`), `${file} imports ${spec}, which the image lacks`);
      }
    }
    assert.ok(files.includes("dist/src/kube/task-start.js"));
    assert.deepEqual(WARM_START, ["node", `${copy[2]}warm-start.js`]);
    assert.match(TASK_START.join(" "), new RegExp(`\\$\\{PADDOCK_LIB:-${copy[2]!.replace(/\/kube\/$/, "")}\\}/kube/task-start\\.js`));
    assert.match(agents, /^COPY --from=fetch \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/m);
    assert.match(agents, /echo '\{"type":"module"\}' > \/opt\/paddock\/lib\/package\.json/);
  });
});
