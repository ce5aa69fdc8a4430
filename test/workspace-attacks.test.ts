import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Role, TaskState, type Artifact, type SendMessageRequest, type Task } from "@a2a-js/sdk";
import { startWorkerServer, textPart, workerClient } from "../src/a2a/index.js";
import { startAgentStack, type AgentStack } from "./agent-helpers.js";

/**
 * An agent attacks paddock's host side through its own workspace: git config
 * that names programs, links to host files, special files. The attack runs
 * where the agent is (its sandbox, as uid 1000): each program it plants
 * records `id -u` in the workspace's .git/ran-inside (relative to the
 * repository, so it also lands there when the host runs it) and in an
 * absolute host path under /tmp that only the host can see.
 */
const request = (text: string): SendMessageRequest => ({
  tenant: "",
  metadata: {},
  message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [textPart(text)], taskId: "", contextId: "", extensions: [], metadata: {}, referenceTaskIds: [] },
  configuration: undefined,
});

const DONE = `echo '{"outcome":"COMPLETE","summary":"done"}'`;

for (const backend of ["bwrap", "gvisor"] as const) describe(`no confused deputy (${backend}): what an agent plants in its workspace acts on nothing of the host`, () => {
  let stack: AgentStack;
  const pwned = `/tmp/paddock-pwned-${randomBytes(4).toString("hex")}`;
  const secret = `SECRET-${randomBytes(8).toString("hex")}`;
  let secretFile: string;

  /** The program each attack plants: proof of where it ran, then what git expects of it. */
  const planted = (tail: string) => `sh -c 'id -u >> ${pwned}; id -u >> .git/ran-inside; ${tail}' --`;

  const attacks: Record<string, string> = {
    "a clean filter": `git config filter.ev.clean "${planted("cat")}"; printf '*.md filter=ev\\n' > .gitattributes`,
    "a textconv driver": `git config diff.tc.textconv "${planted('cat "$1"')}"; printf '*.md diff=tc\\n' > .gitattributes`,
    "an external diff driver (diff.<driver>.command)": `git config diff.ext.command "${planted("true")}"; printf '*.md diff=ext\\n' > .gitattributes`,
    "core.fsmonitor": `git config core.fsmonitor "${planted("true")}"`,
    "core.hooksPath": `mkdir -p .githooks; printf '#!/bin/sh\\nid -u >> ${pwned}; id -u >> .git/ran-inside\\n' > .githooks/post-index-change; chmod +x .githooks/post-index-change; git config core.hooksPath .githooks`,
    "an includeIf'd config": `printf '[filter "ev"]\\n\\tclean = "%s"\\n' "${planted("cat")}" > .git/evil.inc; git config 'includeIf.gitdir:/.path' evil.inc; printf '*.md filter=ev\\n' > .gitattributes`,
  };

  before(async () => {
    stack = await startAgentStack();
    secretFile = join(stack.dir, "host-secret.txt");
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  });
  after(async () => {
    rmSync(pwned, { force: true });
    await stack?.close();
  });

  /** A worker on a fresh repository whose task runs `script` inside; returns the task and the workspace. */
  async function attack(script: string, options: { git?: boolean } = {}): Promise<{ task: Task; workspace: string; artifacts: Record<string, Artifact> }> {
    const card = stack.card({ kind: "command", backend, command: ["sh", "-c", `${script}\n${DONE}`], tools: ["sh", "coreutils", "git"] });
    if (options.git !== false) {
      const git = (...args: string[]) => execFileSync("git", ["-C", card.workspace, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
      git("init", "-q");
      writeFileSync(join(card.workspace, "README.md"), "base\n");
      git("add", ".");
      git("commit", "-qm", "base");
    }
    const worker = await startWorkerServer({ card, executor: stack.executor });
    try {
      const client = await workerClient(worker.url, worker.token);
      const task = (await client.sendMessage(request("go"))) as Task;
      return { task, workspace: card.workspace, artifacts: Object.fromEntries(task.artifacts.map((a) => [a.name, a])) };
    } finally {
      await worker.close();
    }
  }

  const everything = (artifacts: Record<string, Artifact>) => JSON.stringify(Object.values(artifacts), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("latin1") : v));

  for (const [name, plant] of Object.entries(attacks)) {
    it(`${name}: runs inside the agent's sandbox as uid 1000, never on the host, through the run and its A2A artifacts`, async () => {
      // The agent plants it, edits a tracked file, and uses git itself: that is where the planted program may run.
      const { task, workspace, artifacts } = await attack(`${plant}\necho changed >> README.md\ngit status --short > /dev/null\ngit diff > /dev/null\ngit add -A`);
      assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED);
      const ran = readFileSync(join(workspace, ".git", "ran-inside"), "utf8").split("\n").filter(Boolean);
      assert.ok(ran.length > 0, "the planted program ran inside the sandbox");
      assert.deepEqual([...new Set(ran)], ["1000"], "only ever as the sandbox's uid 1000, never as the host's root");
      assert.equal(existsSync(pwned), false, `${pwned} is on the host: the planted program ran there`);
      const result = artifacts.result!.parts[0]!.content as { value: { changed_files: Array<{ path: string }> } };
      assert.ok(result.value.changed_files.some((f) => f.path === "README.md"), JSON.stringify(result.value.changed_files));
      assert.ok(artifacts["changed-files"], "the changed files are still attached");
    });
  }

  it("a link to a host file travels as a link, its target as text, never the file's bytes", async () => {
    const { artifacts } = await attack(`ln -s ${secretFile} leak.txt; ln -s ${stack.dir} leakdir; cat leak.txt > /dev/null 2>&1 || echo "inside, the link leads nowhere"`);
    const parts = artifacts["changed-files"]!.parts;
    const link = parts.find((p) => p.filename === "leak.txt")!;
    assert.equal(link.mediaType, "inode/symlink");
    assert.deepEqual(link.content, { $case: "text", value: secretFile });
    assert.equal(parts.find((p) => p.filename === "leakdir")?.mediaType, "inode/symlink", "a linked folder is a link too");
    assert.ok(!everything(artifacts).includes(secret), "the secret's bytes are in an artifact");
  });

  it("a hard link carries only what the agent could read anyway; one to a host file cannot be made", async () => {
    const { artifacts } = await attack(`ln README.md hard.txt; ln ${secretFile} hard-secret.txt 2> /dev/null || true`);
    const parts = artifacts["changed-files"]!.parts;
    const hard = parts.find((p) => p.filename === "hard.txt")!;
    assert.equal(Buffer.from((hard.content as { value: Uint8Array }).value).toString(), "base\n");
    assert.equal(parts.some((p) => p.filename === "hard-secret.txt"), false);
    assert.ok(!everything(artifacts).includes(secret));
  });

  it("a FIFO named like a changed file, and a 10 GiB sparse file, are named and skipped, never opened, and nothing hangs", async () => {
    const started = performance.now();
    const { artifacts, workspace } = await attack(`mkfifo fifo.txt; truncate -s 10G big.bin; echo ok > plain.txt`, { git: false });
    assert.ok(performance.now() - started < 20_000, "bounded time");
    // Under gVisor a FIFO is its kernel's own object: nothing of it reaches the host's folder.
    const fifo = existsSync(join(workspace, "fifo.txt"));
    assert.equal(fifo, backend === "bwrap");
    const result = artifacts.result!.parts[0]!.content as { value: { changed_files: Array<{ path: string }>; skipped_files: Array<{ path: string; reason: string }> } };
    assert.deepEqual(result.value.changed_files.map((f) => f.path).sort(), fifo ? ["big.bin", "fifo.txt", "plain.txt"] : ["big.bin", "plain.txt"]);
    const skipped = Object.fromEntries(result.value.skipped_files.map((s) => [s.path, s.reason]));
    if (fifo) assert.match(skipped["fifo.txt"] ?? "", /fifo/);
    assert.match(skipped["big.bin"] ?? "", /10737418240 bytes/);
    assert.deepEqual(artifacts["changed-files"]!.parts.map((p) => p.filename), ["plain.txt"]);
  });

  it("the executor's own changed files (paddock run's) come from inside too: a planted filter never runs on the host", async () => {
    const card = stack.card({ kind: "command", backend, command: ["sh", "-c", `${attacks["a clean filter"]}\necho changed >> README.md\n${DONE}`], tools: ["sh", "coreutils", "git"] });
    mkdirSync(card.workspace, { recursive: true });
    const git = (...args: string[]) => execFileSync("git", ["-C", card.workspace, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    writeFileSync(join(card.workspace, "README.md"), "base\n");
    git("add", ".");
    git("commit", "-qm", "base");
    const run = await stack.executor.run({ card, prompt: "go" });
    assert.equal(run.outcome, "COMPLETE");
    assert.deepEqual(run.changed_files.map((f) => f.path).sort(), [".gitattributes", "README.md"]);
    assert.equal(existsSync(pwned), false);
    // Inside the inspection sandbox the workspace is read-only: the filter, if git ran it there, could not record it.
    assert.equal(existsSync(join(card.workspace, ".git", "ran-inside")), false, "the agent itself ran no git here, and the inspection wrote nothing");
  });
});
