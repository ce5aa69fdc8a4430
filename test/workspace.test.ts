import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { paddockPaths } from "../src/paths/index.js";
import { changedFiles, openSnapshotSession, readWorkspaceFiles, workspaceDiff, workspaceState } from "../src/workspace/index.js";
import { hostProcessesWith, ROOT, scratch } from "./helpers.js";

describe("workspace inspection: bad input gives what could be read and a note, never a crash or a hang", () => {
  const { dir, env } = scratch("paddock-workspace-");
  const paths = paddockPaths(env);
  const repo = (name: string) => {
    const ws = join(dir, name);
    mkdirSync(ws, { recursive: true });
    const git = (...args: string[]) => execFileSync("git", ["-C", ws, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    writeFileSync(join(ws, "a.txt"), "a\n");
    git("add", ".");
    git("commit", "-qm", "base");
    return ws;
  };

  it("a folder that is no repository: changes from the files' sizes and times", async () => {
    const ws = join(dir, "plain");
    mkdirSync(join(ws, "sub"), { recursive: true });
    writeFileSync(join(ws, "keep.txt"), "1");
    writeFileSync(join(ws, "edit.txt"), "1");
    writeFileSync(join(ws, "gone.txt"), "1");
    const before = await workspaceState(ws, paths);
    writeFileSync(join(ws, "edit.txt"), "22");
    writeFileSync(join(ws, "sub", "new.txt"), "n");
    execFileSync("rm", [join(ws, "gone.txt")]);
    const after = await workspaceState(ws, paths);
    assert.equal(after.git, false);
    assert.deepEqual(after.notes, []);
    assert.deepEqual(changedFiles(before, after), [
      { path: "edit.txt", status: "modified" },
      { path: "gone.txt", status: "deleted" },
      { path: "sub/new.txt", status: "added" },
    ]);
  });

  it("a task's kept inspection sandbox answers as a fresh one does, sees changes made meanwhile, and is gone once closed", async () => {
    const ws = repo("session");
    const session = await openSnapshotSession(ws, paths);
    const before = await workspaceState(ws, paths, session);
    writeFileSync(join(ws, "a.txt"), "changed\n");
    writeFileSync(join(ws, "b.txt"), "new\n");
    const warm = await workspaceState(ws, paths, session);
    const fresh = await workspaceState(ws, paths);
    assert.deepEqual([...warm.entries.keys()].sort(), ["a.txt", "b.txt"]);
    assert.deepEqual(changedFiles(before, warm), changedFiles(before, fresh));
    assert.deepEqual(changedFiles(before, warm), [{ path: "a.txt", status: "modified" }, { path: "b.txt", status: "added" }]);
    assert.notDeepEqual(hostProcessesWith(ws), [], "the session's sandbox runs until it is closed");
    await session.close();
    assert.deepEqual(hostProcessesWith(ws), [], "the session's sandbox is gone");
    assert.equal(await session.snapshot({ maxBytes: 1 << 20, timeoutMs: 1000 }), undefined, "a closed session answers nothing");
    assert.equal((await workspaceState(ws, paths, session)).entries.size, 2, "and the caller inspects afresh");
  });

  it("a corrupt .git: the files' own state, and a note that says git could not read it", async () => {
    const ws = repo("corrupt");
    writeFileSync(join(ws, ".git", "HEAD"), "garbage\n");
    writeFileSync(join(ws, ".git", "index"), "not an index");
    const state = await workspaceState(ws, paths);
    assert.equal(state.git, false);
    assert.ok(state.entries.has("a.txt"));
    assert.match(state.notes.join("\n"), /git could not read the workspace's repository/);
  });

  it("a binary file: read as bytes, exactly", async () => {
    const ws = repo("binary");
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
    writeFileSync(join(ws, "blob.bin"), bytes);
    const [file] = await readWorkspaceFiles(ws, ["blob.bin"], { maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20, paths });
    assert.equal(file?.kind, "file");
    assert.ok(file?.kind === "file" && file.content.equals(bytes));
    const diff = await workspaceDiff(ws, { maxBytes: 1 << 20, paths });
    assert.match(diff?.diff ?? "", /^new file mode 100644\n[\s\S]*Binary files \/dev\/null and b\/blob\.bin differ$/m, "a new file is in the diff, as added");
  });

  it("the diff has the new files too: a text file's lines, a link's target and never what it points to, an ignored file not at all", async () => {
    const ws = repo("new-files");
    const secret = join(dir, "host-secret.txt");
    writeFileSync(secret, "host secret 7f3a\n");
    writeFileSync(join(ws, "a.txt"), "a\nchanged\n");
    mkdirSync(join(ws, "sub"));
    writeFileSync(join(ws, "sub", "-new.txt"), "line one\nline two\n");
    execFileSync("ln", ["-s", secret, join(ws, "leak")]);
    writeFileSync(join(ws, ".gitignore"), "ignored.log\n");
    writeFileSync(join(ws, "ignored.log"), "noise\n");
    const diff = (await workspaceDiff(ws, { maxBytes: 1 << 20, paths }))?.diff ?? "";
    assert.match(diff, /^\+changed$/m, "the tracked file's change");
    assert.match(diff, /^\+\+\+ b\/sub\/-new\.txt\n@@ -0,0 \+1,2 @@\n\+line one\n\+line two$/m, "the new file, as added");
    assert.ok(diff.includes("new file mode 120000") && diff.includes(`\n+${secret}\n`), "the link, as its target");
    assert.doesNotMatch(diff, /host secret 7f3a/, "what the link points to is never read");
    assert.doesNotMatch(diff, /b\/ignored\.log|noise/, "the ignored file is not in it (the new .gitignore is)");
  });

  it("file names that look like options, globs and framing are taken as names", async () => {
    const ws = join(dir, "names");
    mkdirSync(ws);
    const names = ["-rf", "*", "file 1 2", "new\nline", "ünï"];
    for (const n of names) writeFileSync(join(ws, n), n);
    const state = await workspaceState(ws, paths);
    assert.deepEqual([...state.entries.keys()].sort(), [...names].sort());
    const read = await readWorkspaceFiles(ws, names, { maxFileBytes: 100, maxTotalBytes: 1000, paths });
    assert.deepEqual(read.map((f) => (f.kind === "file" ? f.content.toString() : f.kind)), names);
  });

  it("a 100k-file workspace: read whole, in bounded time", async () => {
    const ws = join(dir, "many");
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(ws, `d${d}`), { recursive: true });
      for (let f = 0; f < 1000; f++) writeFileSync(join(ws, `d${d}`, `f${f}`), "");
    }
    const started = performance.now();
    const state = await workspaceState(ws, paths);
    assert.equal(state.entries.size, 100_000);
    assert.ok(performance.now() - started < 30_000);
  });

  it("the total of the files read is capped: the rest are named as skipped", async () => {
    const ws = join(dir, "total");
    mkdirSync(ws);
    for (let i = 0; i < 8; i++) writeFileSync(join(ws, `f${i}`), Buffer.alloc(64 * 1024, 65));
    const read = await readWorkspaceFiles(ws, Array.from({ length: 8 }, (_, i) => `f${i}`), { maxFileBytes: 1 << 20, maxTotalBytes: 128 * 1024, paths });
    assert.ok(read.filter((f) => f.kind === "file").length >= 1);
    assert.ok(read.some((f) => f.kind === "skipped" && /over the limit/.test(f.reason)), JSON.stringify(read.map((f) => f.kind)));
  });
});

describe("one module looks at workspaces: no other module runs git or reads agent-written files on the host", () => {
  const src = join(ROOT, "src");
  const files = (function walk(d: string): string[] {
    return readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? walk(join(d, e)) : e.endsWith(".ts") ? [join(d, e)] : []));
  })(src);

  it("git is spawned only by src/workspace, and only inside its sandbox", () => {
    const offenders = files.filter((f) => !relative(src, f).startsWith("workspace/") && /(execFile|spawn|exec)(Sync)?\(\s*["'`]git["'`]|["'`]git["'`],\s*\[/.test(readFileSync(f, "utf8")));
    assert.deepEqual(offenders.map((f) => relative(src, f)), []);
    const inside = readFileSync(join(src, "workspace", "inspect.ts"), "utf8");
    assert.match(inside, /createSandbox\(spec, "bwrap"\)/);
  });

  it("no module but src/workspace reads a file under a workspace", () => {
    // A read of a path built from a card's or an agent's workspace, on the host.
    const pattern = /(readFile|readFileSync|createReadStream|readdir|readdirSync|readlink|readlinkSync|opendir)\([^)]*(workspace|worktree)/i;
    const offenders = files.filter((f) => !relative(src, f).startsWith("workspace/") && pattern.test(readFileSync(f, "utf8")));
    assert.deepEqual(offenders.map((f) => relative(src, f)), []);
  });
});
