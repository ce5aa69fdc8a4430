import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CardSchema } from "../src/card/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { createSandbox, prepareSandbox, type Sandbox } from "../src/sandbox/index.js";
import { daemonNamePrefix } from "../src/supervisor/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { paddock, paddockCgroups, scratch } from "./helpers.js";

describe("leftovers: doctor and up report them, paddock gc removes them and loses nothing", () => {
  const { dir, env } = scratch("paddock-leftovers-");
  const paths = paddockPaths(env);
  const repo = join(dir, "repo");
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" });
  const running: Sandbox[] = [];
  after(async () => {
    for (const sandbox of running) await sandbox.stop(0).catch(() => undefined);
  });

  /** A sandbox that keeps running, named as this state folder's daemon names its own (or not), with no agent record. */
  async function sleeper(name: string, daemonNamed: boolean): Promise<Sandbox> {
    const card = CardSchema.parse({ agent_id: name, workspace: dir, kind: "command", command: ["sleep", "600"] });
    const sandbox = createSandbox(prepareSandbox(card, { stdio: "ignore", dieWithParent: false, paths, ...(daemonNamed ? { namePrefix: daemonNamePrefix(paths) } : {}) }));
    await sandbox.start();
    running.push(sandbox);
    return sandbox;
  }

  it("keeps a clone with uncommitted work, removes a clean one after its branch is in the repository, ends a stray sandbox, and leaves running tasks alone", async () => {
    mkdirSync(repo, { recursive: true });
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "README.md"), "base\n");
    git("add", ".");
    git("commit", "-qm", "base");
    const daemon = await startDaemon(env);
    const worker = async (name: string, script: string) => {
      const card = join(dir, `${name}.yaml`);
      writeFileSync(card, `agent_id: ${name}\nworkspace: ${repo}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(script)}]\ntools: [sh, coreutils, git]\nenvironment: { GIT_AUTHOR_NAME: a, GIT_AUTHOR_EMAIL: a@p, GIT_COMMITTER_NAME: a, GIT_COMMITTER_EMAIL: a@p }\n`);
      const r = await paddock(["spawn", card, "--worktree", "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      await eventually(async () => ["exited", "failed"].includes((JSON.parse((await paddock(["status", name, "--json"], { env })).stdout) as { state: string }).state) || undefined, 30_000);
      return (JSON.parse(r.stdout) as { worktree: { path: string } }).worktree.path;
    };
    const clean = await worker("tidy", "echo done > done.txt && git add done.txt && git commit -qm done");
    const dirty = await worker("messy", "echo half > half.txt");
    await stopDaemon(daemon.child);
    // A clone no record leads to, a daemon sandbox whose spawn died half-way, and a `paddock run` still at work.
    const ghost = join(paths.data, "worktrees", "ghost");
    mkdirSync(ghost, { recursive: true });
    const stray = await sleeper("lost", true);
    const task = await sleeper("busy", false);

    const doctor = await paddock(["doctor", "--json"], { env });
    const check = (JSON.parse(doctor.stdout) as Array<{ name: string; ok: boolean; detail: string }>).find((c) => c.name === "leftovers")!;
    assert.equal(check.ok, true, "left behind is not broken");
    assert.match(check.detail, /1 running sandbox\(es\) of agents that ended, .*3 clone\(s\) of agents that ended/);

    const dry = await paddock(["gc", "--dry-run"], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would end  sandbox ${stray.name}`));
    assert.match(dry.stdout, /would keep clone .*messy: 1 uncommitted file/);
    assert.ok(stray.pid !== undefined && existsSync(`/proc/${stray.pid}`), "a dry run ends nothing");

    const gc = await paddock(["gc", "--json"], { env });
    assert.equal(gc.code, 0, gc.stderr);
    const result = JSON.parse(gc.stdout) as { removed: string[]; kept: string[]; in_use: Array<{ name: string }> };
    assert.ok(result.removed.includes(`sandbox ${stray.name}`), JSON.stringify(result));
    assert.ok(result.removed.some((r) => r.startsWith(`clone ${clean}`)));
    assert.deepEqual(result.kept.map((k) => k.split(":")[0]).sort(), [`clone ${ghost}`, `clone ${dirty}`].sort());
    assert.ok(result.in_use.some((c) => c.name === task.name), "the running task is in use");
    // What gc said it did, it did; what it kept is there.
    await eventually(async () => !paddockCgroups().includes(stray.name) || undefined, 10_000);
    assert.equal(existsSync(clean), false);
    assert.equal(git("show", "paddock/tidy:done.txt"), "done\n", "the clean clone's commit is in the repository");
    assert.equal(existsSync(join(dirty, "half.txt")), true);
    assert.equal(existsSync(ghost), true);
    assert.ok(paddockCgroups().includes(task.name) && existsSync(`/proc/${task.pid}`), "the running task was left alone");

    // The next daemon says what is still there.
    const again = await startDaemon(env, ["--no-dashboard"]);
    try {
      assert.match(again.output(), /note\s+left behind by earlier runs: .*2 clone\(s\) of agents that ended; `paddock gc` removes them/);
    } finally {
      await stopDaemon(again.child);
    }
  });
});
