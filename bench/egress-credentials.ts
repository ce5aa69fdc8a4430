import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CredentialSchema } from "../src/card/index.js";
import { AgentCredentials, AuditSink, createAgentCa, EgressProxy, systemResolver } from "../src/egress/index.js";
import { makePki, requestOn, startHttpsOrigin, tlsThrough } from "../test/tls-helpers.js";
import { percentile, printTable } from "./stats.js";

/**
 * What TLS interception costs per request once the leaf is cached: the same
 * HTTPS GET to the same origin, through paddock's proxy as a plain CONNECT
 * tunnel (an agent without credentials) and as an intercepted one with a header
 * injected (an agent with a credential for that host), rounds interleaved.
 * Each request is what `curl` or `git` does: a new CONNECT, a TLS handshake, a GET.
 */
export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paddock-bench-cred-"));
  const n = Number(process.env.BENCH_N ?? 400);
  const pki = makePki(dir, ["origin.bench"]);
  const origin = await startHttpsOrigin(pki);
  const audit = new AuditSink({ jsonl: join(dir, "egress.jsonl") });
  const proxy = new EgressProxy({ audit, resolver: systemResolver({ "origin.bench": ["127.0.0.1"] }), upstreamCa: [pki.caCert] });
  const secret = join(dir, "token");
  writeFileSync(secret, "bench-secret-token-value\n");
  const hosts = [`origin.bench:${origin.port}`, `127.0.0.1:${origin.port}`];
  try {
    const plainSocket = await proxy.addAgent("plain", hosts, join(dir, "plain.sock"));
    const ca = await createAgentCa("keyed");
    const credentials = await AgentCredentials.load([CredentialSchema.parse({ host: `origin.bench:${origin.port}`, inject: { header: "Authorization", value: "Bearer ${secret}" }, secret: { file: secret } })], { env: {} });
    const keyedSocket = await proxy.addAgent("keyed", hosts, join(dir, "keyed.sock"), { credentials, ca });
    const head = `GET / HTTP/1.1\r\nHost: origin.bench:${origin.port}\r\nConnection: close\r\n`;
    const once = async (socket: string, trust: string) => {
      const started = performance.now();
      const answer = await requestOn(await tlsThrough(socket, "origin.bench", origin.port, trust), head);
      if (!answer.startsWith("HTTP/1.1 200")) throw new Error(`unexpected answer: ${answer.slice(0, 200)}`);
      return performance.now() - started;
    };
    // The first intercepted request makes the leaf; the first of each warms the code paths.
    const first = await once(keyedSocket, ca.material.cert);
    for (let i = 0; i < 20; i++) await Promise.all([once(plainSocket, pki.caCert), once(keyedSocket, ca.material.cert)]);
    const plain: number[] = [];
    const intercepted: number[] = [];
    for (let i = 0; i < n; i++) {
      plain.push(await once(plainSocket, pki.caCert));
      intercepted.push(await once(keyedSocket, ca.material.cert));
      if ((i + 1) % 50 === 0) process.stderr.write(`\rrounds ${i + 1}/${n}   `);
    }
    process.stderr.write("\n");
    if (!origin.seen.slice(-1)[0]?.headers.authorization?.startsWith("Bearer bench-secret")) throw new Error("the credential was not injected");
    printTable(`HTTPS GET through the egress proxy, new CONNECT + TLS handshake per request, ${n} interleaved rounds`, [
      { name: "plain CONNECT tunnel (no credential)", samples: plain },
      { name: "intercepted, header injected", samples: intercepted },
    ], "plain CONNECT tunnel (no credential)");
    const added = percentile(intercepted, 50) - percentile(plain, 50);
    console.log(`\nfirst intercepted request (leaf certificate made): ${first.toFixed(2)} ms`);
    console.log(`interception adds ${added.toFixed(2)} ms p50 per request after the first (target < 2 ms): ${added < 2 ? "met" : "NOT met"}`);
    console.log(`origin TLS handshakes: ${origin.handshakes()} for ${2 * (n + 20) + 1} requests (the proxy keeps its upstream connections alive)`);
  } finally {
    await proxy.close();
    await audit.close();
    origin.server.close();
  }
}
