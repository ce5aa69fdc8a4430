import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hostProcessesWith, paddock, paddockCgroups, scratch, cardMaker } from "./helpers.js";

const { dir, env } = scratch();
const workspace = join(dir, "ws-alpha");
const otherWorkspace = join(dir, "ws-beta");
const secret = `paddock-secret-${process.pid}-${Date.now()}`;
const rootSecret = `/root/.paddock-test-secret-${process.pid}`;

const card = cardMaker(dir, {
  workspace,
  tools: ["sh", "coreutils", "bash", "curl", "git", "grep"],
  resource_limits: { memory_mb: 256, max_processes: 32 },
});

/** Runs a shell script in the sandbox of `cardFile`, as a user of `paddock exec` would. */
function inside(cardFile: string, script: string, extraEnv: NodeJS.ProcessEnv = {}) {
  return paddock(["exec", "--card", cardFile, "--", "sh", "-c", script], { env: { ...env, ...extraEnv } });
}

describe("sandbox: attacks fail for the right reason", () => {
  let alpha: string;
  before(() => {
    mkdirSync(workspace, { recursive: true });
    mkdirSync(otherWorkspace, { recursive: true });
    writeFileSync(join(otherWorkspace, "secret.txt"), secret);
    writeFileSync(rootSecret, secret);
    alpha = card("alpha");
  });
  after(() => rmSync(rootSecret, { force: true }));

  it("cannot read a secret planted in /root or in another agent's workspace", async () => {
    const r = await inside(alpha, `cat ${rootSecret}; cat ${join(otherWorkspace, "secret.txt")}; ls /root; ls ${dir}; echo end`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(secret), "a secret leaked into the sandbox");
    assert.match(r.stderr, new RegExp(`cat: ${rootSecret}: No such file or directory`));
    assert.match(r.stderr, /secret\.txt: No such file or directory/);
    assert.match(r.stderr, /ls: cannot access '\/root': No such file or directory/);
    assert.match(r.stdout, /^end$/m);
  });

  it("cannot write outside the workspace: the root is read-only and nothing reaches the host", async () => {
    const escape = join(dir, "escaped.txt");
    const r = await inside(alpha, `echo x > ${escape}; echo x > /escaped; echo x > /etc/escaped; echo x > /usr/bin/escaped; echo ok > /workspace/kept.txt; echo ok > /tmp/t && echo tmp-ok`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\/escaped: Read-only file system/);
    assert.match(r.stderr, /\/etc\/escaped: Read-only file system/);
    assert.match(r.stderr, /\/usr\/bin\/escaped: Read-only file system/);
    assert.match(r.stdout, /tmp-ok/);
    assert.ok(!existsSync(escape) && !existsSync("/escaped") && !existsSync("/etc/escaped") && !existsSync("/usr/bin/escaped"));
    assert.equal(readFileSync(join(workspace, "kept.txt"), "utf8"), "ok\n");
  });

  it("cannot see or signal host processes", async () => {
    const victim = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const r = await inside(alpha, `kill -9 ${victim.pid}; echo "kill=$?"; ls /proc | grep -c '^[0-9]'`);
      assert.match(r.stderr, /kill: (\d+: )?No such process/);
      const visible = Number(r.stdout.trim().split("\n").pop());
      assert.ok(visible > 0 && visible <= 5, `the sandbox sees ${visible} processes`);
      assert.equal(victim.exitCode, null);
      assert.equal(victim.signalCode, null, "the host process was signalled");
    } finally {
      victim.kill();
    }
  });

  it("has no capabilities, no new privileges and no controlling terminal", async () => {
    const r = await inside(alpha, "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status; cut -d' ' -f7 /proc/self/stat");
    assert.match(r.stdout, /CapPrm:\s+0000000000000000/);
    assert.match(r.stdout, /CapEff:\s+0000000000000000/);
    assert.match(r.stdout, /CapBnd:\s+0000000000000000/);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
    // Run under a real terminal: the command must still have none (tty_nr 0), so it cannot inject keystrokes with TIOCSTI.
    const tty = await paddockInTerminal(["exec", "--card", alpha, "--", "cut", "-d ", "-f7", "/proc/self/stat"]);
    assert.match(tty, /^0\s*$/m, tty);
  });

  it("builds the environment from the card alone", async () => {
    const r = await inside(card("envy", { environment: { GREETING: "hello" } }), "env", { PADDOCK_PARENT_SECRET: secret, AWS_SECRET_ACCESS_KEY: secret });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(secret), "a variable of the parent leaked in");
    assert.match(r.stdout, /^GREETING=hello$/m);
    assert.match(r.stdout, /^AGENT_ID=envy$/m);
    assert.match(r.stdout, /^HOME=\/home\/agent$/m);
  });

  it("cannot reach a TCP server on the host's 127.0.0.1", async () => {
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.end("leak");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await inside(alpha, `curl -sS --max-time 3 http://127.0.0.1:${port}/; bash -c 'echo > /dev/tcp/127.0.0.1/${port}'`);
      assert.match(r.stderr, /Failed to connect to 127\.0\.0\.1 port \d+.*(Connection refused|Couldn't connect)/);
      assert.match(r.stderr, /Connection refused/);
      assert.ok(!r.stdout.includes("leak"));
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  it("cannot resolve a DNS name", async () => {
    const r = await inside(alpha, "curl -sS --max-time 5 http://example.com/; cat /etc/resolv.conf");
    assert.match(r.stderr, /Could not resolve host: example\.com/);
    assert.match(r.stderr, /resolv\.conf: No such file or directory/);
  });

  it("is killed and reported as OOM past memory_mb", async () => {
    const report = join(dir, "oom.json");
    const hog = card("hog", { resource_limits: { memory_mb: 64, max_processes: 16 } });
    // tail keeps a line it has not seen the end of in memory: 512 MiB without a newline.
    const r = await paddock(["exec", "--report", report, "--card", hog, "--", "sh", "-c", "head -c 512M /dev/zero | tail -n 1 >/dev/null"], { env });
    const exit = JSON.parse(readFileSync(report, "utf8")) as { cause: string; memoryPeakBytes: number; oomKills: number };
    assert.equal(exit.cause, "oom");
    assert.equal(exit.oomKills, 1);
    assert.equal(r.code, 137);
    assert.ok(exit.memoryPeakBytes <= 64 * 1024 * 1024, `peak ${exit.memoryPeakBytes}`);
    assert.match(r.stderr, /exceeded resource_limits\.memory_mb/);
  });

  it("reports a process killed for memory even when the command survives it", async () => {
    const report = join(dir, "oom-survived.json");
    const hog = card("hog", { resource_limits: { memory_mb: 64, max_processes: 16 } });
    const r = await paddock(["exec", "--report", report, "--card", hog, "--", "sh", "-c", "head -c 512M /dev/zero | tail -n 1 >/dev/null; echo survived"], { env });
    const exit = JSON.parse(readFileSync(report, "utf8")) as { cause: string; oomKills: number };
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "survived\n");
    assert.deepEqual([exit.cause, exit.oomKills], ["exited", 1]);
  });

  it("contains a fork bomb at max_processes", async () => {
    const marker = `31.${process.pid}`;
    const forky = card("forky", { resource_limits: { memory_mb: 256, max_processes: 20 } });
    const r = await inside(forky, `n=0; while [ $n -lt 200 ]; do sleep ${marker} & n=$((n+1)); done; echo "started=$n"`);
    assert.match(r.stderr, /Cannot fork|Resource temporarily unavailable/);
    assert.doesNotMatch(r.stdout, /started=200/);
    assert.deepEqual(hostProcessesWith(`sleep ${marker}`), [], "processes outlived the sandbox");
  });

  it("ends the whole tree at ttl_seconds and reports it", async () => {
    const marker = `47.${process.pid}`;
    const brief = card("brief", { ttl_seconds: 1 });
    const started = Date.now();
    const report = join(dir, "ttl.json");
    const r = await paddock(["exec", "--report", report, "--card", brief, "--", "sh", "-c", `sleep ${marker} & sleep ${marker}`], { env });
    assert.equal(r.code, 124);
    assert.equal((JSON.parse(readFileSync(report, "utf8")) as { cause: string }).cause, "ttl");
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(hostProcessesWith(`sleep ${marker}`), []);
  });

  it("leaves no cgroup behind", () => {
    assert.deepEqual(paddockCgroups(), []);
  });
});

describe("sandbox: what an agent needs works", () => {
  it("runs git and the card's tools, and only those", async () => {
    const ws = join(dir, "ws-git");
    mkdirSync(ws, { recursive: true });
    const gitCard = card("gitty", { workspace: ws, tools: ["sh", "coreutils", "git"] });
    const r = await inside(
      gitCard,
      "git init -q . && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m first && git log --format=%s; echo data > f.txt; ls /usr/bin | grep -c .; command -v curl || echo no-curl; command -v perl || echo no-perl",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^first$/m);
    assert.match(r.stdout, /^no-curl$/m);
    assert.match(r.stdout, /^no-perl$/m);
    assert.equal(readFileSync(join(ws, "f.txt"), "utf8"), "data\n");
    assert.ok(existsSync(join(ws, ".git", "HEAD")));
  });

  it("keeps a per-agent HOME across runs, apart from other agents", async () => {
    const one = card("homer");
    await inside(one, "echo remembered > ~/note");
    const again = await inside(one, "cat ~/note");
    assert.equal(again.stdout, "remembered\n");
    const other = await inside(card("marge"), "cat ~/note");
    assert.match(other.stderr, /No such file or directory/);
  });

  it("mounts the workspace read-only with a writable /output when asked", async () => {
    const output = join(dir, "out");
    const r = await paddock(
      ["exec", "--card", card("reader"), "--read-only-workspace", "--output", output, "--", "sh", "-c", "echo x > /workspace/new; echo result > /output/r.txt"],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\/workspace\/new: Read-only file system/);
    assert.equal(readFileSync(join(output, "r.txt"), "utf8"), "result\n");
    assert.ok(!existsSync(join(workspace, "new")));
  });

  it("passes stdin through and exits with the command's status", async () => {
    const r = await paddock(["exec", "--card", card("piper"), "--", "sh", "-c", "tr a-z A-Z; exit 7"], { env, input: "hello\n" });
    assert.equal(r.stdout, "HELLO\n");
    assert.equal(r.code, 7);
  });
});

/** Runs paddock under `script`, which gives it a real pseudo-terminal, and returns what the terminal showed. */
async function paddockInTerminal(args: string[]): Promise<string> {
  const { run, CLI } = await import("./helpers.js");
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
  const r = await run(["script", "-qec", command, "/dev/null"], { env });
  return r.stdout;
}

describe("sandbox: stopping", () => {
  it("SIGTERM to paddock exec reaches the command, which may finish cleanly; the exit says stopped", async () => {
    const { spawn } = await import("node:child_process");
    const { CLI } = await import("./helpers.js");
    const file = card("stoppable");
    const child = spawn(process.execPath, [CLI, "exec", "--report", join(dir, "stop.json"), "--card", file, "--", "sh", "-c", 'trap "echo cleaned-up; exit 0" TERM; echo ready; sleep 30 & wait'], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) child.kill("SIGTERM");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 143);
    assert.match(out, /cleaned-up/);
    assert.equal((JSON.parse(readFileSync(join(dir, "stop.json"), "utf8")) as { cause: string }).cause, "stopped");
  });

  it("a command that ignores SIGTERM is killed after --grace", async () => {
    const { spawn } = await import("node:child_process");
    const { CLI } = await import("./helpers.js");
    const marker = `53.${process.pid}`;
    const child = spawn(process.execPath, [CLI, "exec", "--grace", "1", "--card", card("stubborn"), "--", "sh", "-c", `trap "" TERM; echo ready; sleep ${marker}`], { env, stdio: ["ignore", "pipe", "pipe"] });
    const started = Date.now();
    child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && child.kill("SIGINT"));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 130);
    const took = Date.now() - started;
    assert.ok(took >= 1000 && took < 6000, `took ${took} ms`);
    assert.deepEqual(hostProcessesWith(`sleep ${marker}`), []);
  });
});
