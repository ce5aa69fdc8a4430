import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually } from "./egress-helpers.js";
import { paddock, scratch } from "./helpers.js";

describe("a worker's own clone and branch: git works inside, the repository is out of its reach", () => {
  const { dir, env } = scratch("paddock-worktree-");
  const repo = join(dir, "repo");
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" });

  before(async () => {
    mkdirSync(join(repo, "pkg"), { recursive: true });
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "pkg", "README.md"), "base\n");
    git("add", ".");
    git("commit", "-qm", "base");
    git("branch", "other");
    daemon = await startDaemon(env);
  });
  after(async () => {
    if (daemon) await stopDaemon(daemon.child);
  });

  /** Spawns a command agent on the repository's pkg/ folder with its own clone; resolves once it has exited, with its log. */
  async function worker(name: string, script: string): Promise<{ log: string; worktree: { path: string; branch: string } }> {
    const card = join(dir, `${name}.yaml`);
    writeFileSync(card, `agent_id: ${name}\nworkspace: ${join(repo, "pkg")}\nkind: command\ncommand: [sh, -c, ${JSON.stringify(`${script}\necho finished`)}]\ntools: [sh, coreutils, git]\nenvironment: { GIT_AUTHOR_NAME: agent, GIT_AUTHOR_EMAIL: agent@paddock, GIT_COMMITTER_NAME: agent, GIT_COMMITTER_EMAIL: agent@paddock }\n`);
    const r = await paddock(["spawn", card, "--worktree", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const spawned = JSON.parse(r.stdout) as { worktree: { path: string; branch: string } };
    await eventually(async () => {
      const status = JSON.parse((await paddock(["status", name, "--json"], { env })).stdout) as { state: string };
      return ["exited", "failed", "stopped"].includes(status.state) || undefined;
    }, 30_000);
    const log = (await paddock(["logs", name], { env })).stdout;
    return { log, worktree: spawned.worktree };
  }

  it("lets the agent run git status, add and commit on paddock/ID, starting in the card's folder, and brings the commit into the repository", async () => {
    const { log, worktree } = await worker("committer", `pwd; git status --short --branch; echo work > work.txt; git add work.txt && git commit -qm "agent work" && echo committed`);
    assert.match(log, /^\/workspace\/pkg$/m, log);
    assert.match(log, /^## paddock\/committer$/m, log);
    assert.match(log, /^committed$/m, log);
    assert.equal(worktree.branch, "paddock/committer");
    assert.equal(readFileSync(join(worktree.path, "pkg", "work.txt"), "utf8"), "work\n");
    assert.equal(git("log", "-1", "--format=%s %an", "paddock/committer").trim(), "agent work agent");
    assert.equal(git("show", "paddock/committer:pkg/work.txt"), "work\n");
    assert.equal(git("status", "--porcelain"), "", "the repository's own checkout is untouched");
  });

  it("cannot change the repository's config, hooks or other branches, whatever it does in its clone", async () => {
    const config = readFileSync(join(repo, ".git", "config"), "utf8");
    const hooks = readdirSync(join(repo, ".git", "hooks")).sort();
    const refs = git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/main", "refs/heads/other");
    const { log } = await worker(
      "vandal",
      [
        "cd /workspace",
        "git config core.fsmonitor 'sh -c \"id > /tmp/x\"'",
        "git config filter.ev.clean 'sh -c \"id > /tmp/x; cat\"'",
        "printf '#!/bin/sh\\necho hooked\\n' > .git/hooks/post-commit; chmod +x .git/hooks/post-commit",
        "git branch -f other HEAD && git branch -f main HEAD && echo moved-in-clone",
        `git push -q ${repo} HEAD:other 2>&1 | head -n 1`,
        `git push -q origin HEAD:main 2>&1 | head -n 1`,
        `ls ${repo} 2>&1 | head -n 1`,
        "echo x > x.txt && git add x.txt && git commit -qm vandal",
      ].join("\n"),
    );
    assert.match(log, /^moved-in-clone$/m, "the agent moves branches freely in its own clone");
    assert.match(log, /No such file or directory|does not appear to be a git repository/, log);
    assert.equal(readFileSync(join(repo, ".git", "config"), "utf8"), config, "the repository's config is unchanged");
    assert.deepEqual(readdirSync(join(repo, ".git", "hooks")).sort(), hooks, "no hook was added");
    assert.equal(git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/main", "refs/heads/other"), refs, "other branches did not move");
    assert.equal(git("log", "-1", "--format=%s", "paddock/vandal").trim(), "vandal", "its own branch did");
    assert.equal(existsSync("/tmp/x"), false);
  });

  it("refuses a second agent of the same name while its clone is there, and says what to do", async () => {
    const card = join(dir, "committer.yaml");
    const r = await paddock(["spawn", card, "--worktree"], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already exists .*the clone of an earlier agent committer/);
  });
});
