import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CredentialSchema, type Credential } from "../src/card/index.js";
import { AgentCredentials, createAgentCa, EgressService, type AgentCa } from "../src/egress/index.js";
import { paddockPaths } from "../src/paths/index.js";
import { eventually, get, raw, startOrigin, startProxy, type ProxyFixture } from "./egress-helpers.js";
import { CLI, freePort, paddock, scratch, waitForPort } from "./helpers.js";
import { connectThrough, makePki, requestOn, startHttpsOrigin, tlsThrough, type Seen, type TestPki } from "./tls-helpers.js";

const credential = (fields: Record<string, unknown>): Credential => CredentialSchema.parse(fields);

describe("egress credentials: injected on the way out, never in the sandbox", () => {
  const { dir } = scratch("paddock-cred-");
  const secretFile = join(dir, "github-token");
  let pki: TestPki;
  let origin: Awaited<ReturnType<typeof startHttpsOrigin>>;
  let other: Awaited<ReturnType<typeof startHttpsOrigin>>;
  let plain: Awaited<ReturnType<typeof startOrigin>>;
  let fx: ProxyFixture;
  let ca: AgentCa;
  let credentials: AgentCredentials;
  let sock: string;
  let placeholder: string;
  let basicPlaceholder: string;

  before(async () => {
    writeFileSync(secretFile, "ghp_first-secret-value\n");
    pki = makePki(dir, ["api.forge.test", "git.forge.test", "other.test"]);
    origin = await startHttpsOrigin(pki);
    other = await startHttpsOrigin(pki);
    plain = await startOrigin();
    // The proxy verifies origins against the test's CA (and the host's store), as PADDOCK_EGRESS_UPSTREAM_CA would make it.
    fx = await startProxy({ "api.forge.test": ["127.0.0.1"], "git.forge.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] }, {}, undefined, { upstreamCa: [pki.caCert] });
    process.env.PADDOCK_TEST_BASIC_SECRET = "basic-secret-from-env";
    credentials = await AgentCredentials.load(
      [
        credential({ name: "forge-api", host: `api.forge.test:${origin.port}`, inject: { header: "Authorization", value: "Bearer ${secret}" }, secret: { file: secretFile }, placeholder_env: "GITHUB_TOKEN" }),
        credential({ host: `git.forge.test:${origin.port}`, inject: { basic: { user: "x-access-token", password: "${secret}" } }, secret: { env: "PADDOCK_TEST_BASIC_SECRET" }, placeholder_env: "GIT_TOKEN" }),
      ],
      { env: process.env },
    );
    ({ GITHUB_TOKEN: placeholder, GIT_TOKEN: basicPlaceholder } = credentials.environment() as { GITHUB_TOKEN: string; GIT_TOKEN: string });
    ca = await createAgentCa("keyholder");
    sock = await fx.proxy.addAgent(
      "keyholder",
      [`api.forge.test:${origin.port}`, `git.forge.test:${origin.port}`, `other.test:${other.port}`, `127.0.0.1:${origin.port}`, `127.0.0.1:${other.port}`, `127.0.0.1:${plain.port}`],
      fx.socketFor("keyholder"),
      { credentials, ca },
    );
  });
  after(async () => {
    await fx.close();
    for (const s of [origin.server, other.server, plain.server]) s.close();
  });

  const lastSeen = (o: { seen: Seen[] }) => o.seen.at(-1)!;
  const https = async (host: string, port: number, head: string, body = "") => requestOn(await tlsThrough(sock, host, port, ca.material.cert), head, body);

  it("terminates TLS to a credential host with the agent's CA and injects the header, replacing the placeholder the agent sent", async () => {
    const secure = await tlsThrough(sock, "api.forge.test", origin.port, ca.material.cert);
    const presented = new X509Certificate(secure.getPeerCertificate(true).raw);
    assert.ok(presented.checkIssued(new X509Certificate(ca.material.cert)), "the agent sees a leaf of its own CA");
    assert.equal(presented.subjectAltName, "DNS:api.forge.test");
    assert.ok(Date.parse(presented.validTo) - Date.now() <= 25 * 3600_000, `a short-lived leaf, not ${presented.validTo}`);
    const answer = await requestOn(secure, `GET /user HTTP/1.1\r\nHost: api.forge.test:${origin.port}\r\nAuthorization: Bearer ${placeholder}\r\nConnection: close\r\n`);
    assert.match(answer, /^HTTP\/1\.1 200 OK/);
    assert.equal(lastSeen(origin).headers.authorization, "Bearer ghp_first-secret-value");
    assert.equal(lastSeen(origin).url, "/user");
    // The test origin echoes what it was sent: the secret in that answer is masked on its way back to the agent.
    assert.ok(!answer.includes("ghp_first"), answer);
    assert.match(answer, /"authorization":"Bearer \*{22}"/);
  });

  it("injects Basic credentials (git's way) from a secret in paddock's environment", async () => {
    await https("git.forge.test", origin.port, `GET /repo.git/info/refs HTTP/1.1\r\nHost: git.forge.test:${origin.port}\r\nConnection: close\r\n`);
    assert.equal(lastSeen(origin).headers.authorization, `Basic ${Buffer.from("x-access-token:basic-secret-from-env").toString("base64")}`);
  });

  it("takes a rotated secret file on the next request, without restarting anything", async () => {
    writeFileSync(secretFile, "ghp_rotated-value\n");
    await https("api.forge.test", origin.port, `GET /after-rotation HTTP/1.1\r\nHost: api.forge.test:${origin.port}\r\nConnection: close\r\n`);
    assert.equal(lastSeen(origin).headers.authorization, "Bearer ghp_rotated-value");
  });

  it("refuses a placeholder sent to any other host: in a header, the URL, base64 or the body; the origin sees nothing", async () => {
    const before = plain.hits.length;
    const attempts = [
      get(`http://127.0.0.1:${plain.port}/`, undefined, `X-Token: ${placeholder}\r\n`),
      get(`http://127.0.0.1:${plain.port}/?t=${encodeURIComponent(placeholder)}`),
      get(`http://127.0.0.1:${plain.port}/`, undefined, `Authorization: Basic ${Buffer.from(`x:${basicPlaceholder}`).toString("base64")}\r\n`),
      `POST http://127.0.0.1:${plain.port}/upload HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nContent-Length: ${placeholder.length + 6}\r\nConnection: close\r\n\r\ntoken=${placeholder}`,
    ];
    for (const attempt of attempts) {
      const answer = await raw(sock, attempt);
      assert.match(answer, /^HTTP\/1\.1 403 /, attempt);
      assert.match(answer, /credential_exfiltration: the request carries the placeholder or secret of credential '(forge-api|GIT_TOKEN)'/);
    }
    assert.equal(plain.hits.length, before, `the origin saw ${plain.hits.slice(before).join(", ")}`);
    // The placeholder of one credential host is not let through to another credential host either.
    const crossed = await https("git.forge.test", origin.port, `GET / HTTP/1.1\r\nHost: git.forge.test:${origin.port}\r\nX-Other: ${placeholder}\r\nConnection: close\r\n`);
    assert.match(crossed, /^HTTP\/1\.1 403 /);
    const log = await eventually(async () => {
      await fx.audit.flush();
      const rows = (await fx.store.egressLog({ agentId: "keyholder", deniedOnly: true })).filter((r) => r.reason === "credential_exfiltration");
      return rows.length >= 5 ? rows : undefined;
    });
    assert.deepEqual(new Set(log.map((r) => r.credential)), new Set(["forge-api", "GIT_TOKEN"]));
  });

  it("refuses the secret itself on its way to another host, even in a body after the first chunk", async () => {
    const body = `${"x".repeat(70_000)}ghp_rotated-value`;
    const answer = await raw(sock, `POST http://127.0.0.1:${plain.port}/big HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    assert.match(answer, /credential_exfiltration/);
    assert.ok(!plain.hits.some((h) => h.includes("/big") && h.includes("ghp_")), "the origin never got the chunk with the secret");
  });

  it("leaves every other CONNECT an opaque tunnel: the client sees the origin's own certificate", async () => {
    const secure = await tlsThrough(sock, "other.test", other.port, pki.caCert);
    const presented = new X509Certificate(secure.getPeerCertificate(true).raw);
    assert.ok(presented.checkIssued(new X509Certificate(pki.caCert)), "no interception without a credential");
    secure.destroy();
  });

  it("sends nothing to a credential host whose certificate does not verify", async () => {
    const untrusting = await startProxy({ "api.forge.test": ["127.0.0.1"] }, {}, undefined, { upstreamCa: [] });
    try {
      const strictCa = await createAgentCa("strict");
      const s = await untrusting.proxy.addAgent("strict", [`api.forge.test:${origin.port}`, `127.0.0.1:${origin.port}`], untrusting.socketFor("strict"), {
        credentials: await AgentCredentials.load([credential({ host: `api.forge.test:${origin.port}`, inject: { header: "X-Api-Key", value: "${secret}" }, secret: { file: secretFile } })], { env: {} }),
        ca: strictCa,
      });
      const before = origin.seen.length;
      const answer = await requestOn(await tlsThrough(s, "api.forge.test", origin.port, strictCa.material.cert), `GET /x HTTP/1.1\r\nHost: api.forge.test:${origin.port}\r\nConnection: close\r\n`);
      assert.match(answer, /^HTTP\/1\.1 502 /);
      assert.match(answer, /X-Paddock-Deny-Reason: upstream_certificate/i);
      assert.match(answer, /does not verify against this host's trust store \(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY\); nothing was sent/);
      assert.equal(origin.seen.length, before, "no request reached the origin");
    } finally {
      await untrusting.close();
    }
  });

  it("refuses a request inside the tunnel that names another host, and one when the secret is gone", async () => {
    const misdirected = await https("api.forge.test", origin.port, `GET / HTTP/1.1\r\nHost: other.test:${other.port}\r\nConnection: close\r\n`);
    assert.match(misdirected, /^HTTP\/1\.1 421 /);
    rmSync(secretFile);
    try {
      const gone = await https("api.forge.test", origin.port, `GET / HTTP/1.1\r\nHost: api.forge.test:${origin.port}\r\nConnection: close\r\n`);
      assert.match(gone, /^HTTP\/1\.1 502 /);
      assert.match(gone, /credential_unavailable: the credential for api\.forge\.test cannot be read: credentials\[0\]\.secret: cannot read .*github-token: ENOENT/);
    } finally {
      writeFileSync(secretFile, "ghp_rotated-value\n");
    }
  });

  it("records each injection with the credential's name and never its value; a client that distrusts the CA is recorded too", async () => {
    await assert.rejects(tlsThrough(sock, "api.forge.test", origin.port, pki.caCert), /self.signed|unable to verify|certificate/i);
    const rows = await eventually(async () => {
      await fx.audit.flush();
      const all = await fx.store.egressLog({ agentId: "keyholder" });
      return all.some((r) => r.reason === "tls_handshake_failed") ? all : undefined;
    });
    const injected = rows.filter((r) => r.decision === "allowed" && r.credential);
    assert.ok(injected.some((r) => r.credential === "forge-api" && r.method === "GET" && r.host === "api.forge.test" && r.status === 200));
    assert.ok(injected.some((r) => r.credential === "GIT_TOKEN"));
    assert.ok(!JSON.stringify(rows).includes("ghp_"), "no audit row holds a secret");
    assert.ok(!JSON.stringify(rows).includes("basic-secret"), "no audit row holds a secret");
  });

  it("a CONNECT that itself carries a placeholder is refused before any tunnel opens", async () => {
    await assert.rejects(connectThrough(sock, `127.0.0.1:${other.port}\r\nX-Leak: ${placeholder}`), /403 .*\r\n[\s\S]*credential_exfiltration/);
  });
});

describe("egress credentials: bad secrets fail the start, and a restarted daemon keeps the CA and placeholders", () => {
  const { dir, env } = scratch("paddock-cred-svc-");
  const card = (secret: Record<string, unknown>) => ({ allowed_hosts: ["api.forge.test"], credentials: [credential({ host: "api.forge.test", inject: { header: "Authorization", value: "token ${secret}" }, secret, placeholder_env: "TOKEN" })] });

  it("names the credential whose secret is missing, empty, or would split a header", async () => {
    const service = new EgressService(paddockPaths(env));
    try {
      await assert.rejects(service.attach("a1", card({ file: join(dir, "missing") })), { code: "credential_unreadable", where: "credentials[0].secret", message: /cannot read .*missing: ENOENT/ });
      await assert.rejects(service.attach("a2", card({ env: "PADDOCK_TEST_UNSET_VARIABLE" })), { code: "credential_unreadable", where: "credentials[0].secret.env" });
      writeFileSync(join(dir, "split"), "abc\ndef\n");
      await assert.rejects(service.attach("a3", card({ file: join(dir, "split") })), { code: "credential_invalid", message: /line break/ });
      await assert.rejects(service.attach("a4", card({ kube: { secret: "forge", key: "token" } })), { code: "credential_source_unavailable", where: "credentials[0].secret.kube" });
      assert.deepEqual(service.proxy.agentIds(), [], "no agent got an identity");
    } finally {
      await service.close();
    }
  });

  it("gives a running agent the same CA and placeholder after a daemon restart, and removes both when it detaches", async () => {
    writeFileSync(join(dir, "token"), "s3cret-token-value");
    const first = new EgressService(paddockPaths(env));
    const attached = await first.attach("keeper", card({ file: join(dir, "token") }));
    await first.close();
    const second = new EgressService(paddockPaths(env));
    try {
      const again = await second.attach("keeper", card({ file: join(dir, "token") }), attached.socket);
      assert.equal(again.env.TOKEN, attached.env.TOKEN);
      assert.match(again.env.TOKEN!, /^paddock-placeholder-[0-9a-f]{32}$/);
      const { readFileSync, existsSync } = await import("node:fs");
      assert.equal(readFileSync(again.caBundle!, "utf8"), readFileSync(attached.caBundle!, "utf8"));
      assert.ok(!readFileSync(again.caBundle!, "utf8").includes("PRIVATE KEY"), "the bundle holds certificates only");
      await second.detach("keeper");
      assert.ok(!existsSync(again.caBundle!));
    } finally {
      await second.close();
    }
  });
});

describe("egress credentials on the standalone proxy (a cluster's): the CA from files, the secret from a mounted Kubernetes Secret", () => {
  it("injects a key of a Secret volume, follows the kubelet's atomic swap on rotation, and prints the pod's placeholders", async () => {
    const { dir, env } = scratch("paddock-cred-serve-");
    const pki = makePki(dir, ["api.forge.test"]);
    const origin = await startHttpsOrigin(pki);
    // A Secret volume as the kubelet lays it out: KEY -> ..data/KEY, ..data -> a timestamped folder, swapped atomically.
    const volume = join(dir, "secrets", "forge");
    const { mkdirSync, renameSync, symlinkSync } = await import("node:fs");
    const generation = (n: number, value: string) => {
      mkdirSync(join(volume, `..gen${n}`), { recursive: true });
      writeFileSync(join(volume, `..gen${n}`, "token"), value);
      symlinkSync(`..gen${n}`, join(volume, "..data_tmp"));
      renameSync(join(volume, "..data_tmp"), join(volume, "..data"));
    };
    generation(1, "kube-secret-one");
    symlinkSync("..data/token", join(volume, "token"));
    const [port] = [await freePort()];
    const file = join(dir, "egress.yaml");
    writeFileSync(
      file,
      [
        `listen: 127.0.0.1:${port}`,
        `kube_secrets_dir: ${join(dir, "secrets")}`,
        `resolve: { api.forge.test: ["127.0.0.1"] }`,
        "agents:",
        "  - agent_id: pod-a",
        `    token_sha256: ${createHash("sha256").update("pod-token").digest("hex")}`,
        `    allowed_hosts: ["api.forge.test:${origin.port}", "127.0.0.1:${origin.port}"]`,
        `    ca: { cert_file: ${join(dir, "ca", "ca.crt")}, key_file: ${join(dir, "ca", "ca.key")} }`,
        "    credentials:",
        `      - { host: "api.forge.test:${origin.port}", inject: { header: X-Api-Key, value: "\${secret}" }, secret: { kube: { secret: forge, key: token } }, placeholder_env: FORGE_KEY }`,
      ].join("\n"),
    );
    const made = await paddock(["egress", "ca", "--agent", "pod-a", "--out", join(dir, "ca"), "--config", file], { env });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^FORGE_KEY=paddock-placeholder-[0-9a-f]{32}\n$/);
    const again = await paddock(["egress", "ca", "--agent", "pod-a", "--out", join(dir, "ca"), "--config", file, "--json"], { env });
    assert.equal(JSON.parse(again.stdout).environment.FORGE_KEY, made.stdout.trim().split("=")[1], "the same CA gives the same placeholders");
    const server = spawn(process.execPath, [CLI, "egress", "serve", "--config", file], { env: { ...env, PADDOCK_EGRESS_UPSTREAM_CA: pki.caFile }, stdio: ["ignore", "ignore", "pipe"] });
    let logs = "";
    server.stderr.on("data", (d: Buffer) => (logs += d.toString()));
    try {
      await waitForPort(port);
      const { readFileSync } = await import("node:fs");
      const podCa = readFileSync(join(dir, "ca", "ca.crt"), "utf8");
      const auth = `Proxy-Authorization: Basic ${Buffer.from("pod-a:pod-token").toString("base64")}\r\n`;
      const ask = async () => requestOn(await tlsThrough(port, "api.forge.test", origin.port, podCa, auth), `GET /v1 HTTP/1.1\r\nHost: api.forge.test:${origin.port}\r\nConnection: close\r\n`);
      assert.match(await ask(), /^HTTP\/1\.1 200 /, logs);
      assert.equal(origin.seen.at(-1)!.headers["x-api-key"], "kube-secret-one");
      generation(2, "kube-secret-two");
      await ask();
      assert.equal(origin.seen.at(-1)!.headers["x-api-key"], "kube-secret-two");
    } finally {
      server.kill("SIGTERM");
      origin.server.close();
    }
  });

  it("refuses an agent with credentials and no CA, and a credential its allowlist does not cover", async () => {
    const { dir, env } = scratch("paddock-cred-serve-bad-");
    const file = join(dir, "egress.yaml");
    writeFileSync(file, ["agents:", "  - agent_id: pod-a", `    token_sha256: "${"0".repeat(64)}"`, "    allowed_hosts: [example.com]", "    credentials: [{ host: api.forge.test, inject: { header: X-Api-Key, value: '${secret}' }, secret: { env: KEY } }]"].join("\n"));
    const r = await paddock(["egress", "serve", "--config", file], { env });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /egress\.yaml:2:5: agents\[0\]\.ca: is required with credentials \(make one with `paddock egress ca`\)/);
    assert.match(r.stderr, /egress\.yaml:5:21: agents\[0\]\.credentials\[0\]\.host: 'api\.forge\.test' is not covered by allowed_hosts/);
  });
});
