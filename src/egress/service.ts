import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Card } from "../card/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { storeLocation } from "../store/index.js";
import { AuditSink } from "./audit.js";
import type { CaMaterial } from "./ca.js";
import type { EgressConfig } from "./config.js";
import { AgentCredentials, CredentialError } from "./credentials.js";
import { EgressMetrics } from "./metrics.js";
import { EgressProxy, type CredentialHandling, type EgressProxyOptions } from "./proxy.js";
import { HOST_CA_BUNDLE, upstreamTrust } from "./trust.js";

/** What an agent's card asks of its way out (a card is one). */
export type EgressPolicy = Pick<Card, "allowed_hosts"> & Partial<Pick<Card, "credentials">>;

/** What a sandbox needs to use its way out: the socket, and with credentials the CA bundle to trust and the placeholders. */
export interface EgressAttachment {
  socket: string;
  /** The host's CA bundle plus the agent's own CA (for the hosts whose TLS the proxy terminates). */
  caBundle?: string;
  /** Placeholder variables, in place of the credentials. */
  env: Record<string, string>;
}


/** The proxy with its store, audit log and metrics, as one process runs it. */
export class EgressService {
  readonly metrics = new EgressMetrics();
  readonly audit: AuditSink;
  readonly proxy: EgressProxy;
  private readonly socketDir: string;
  private readonly attachments = new Map<string, EgressAttachment>();

  constructor(
    paths: PaddockPaths,
    private readonly options: Omit<EgressProxyOptions, "audit" | "metrics"> & { auditLog?: string; database?: string; kubeSecretsDir?: string } = {},
  ) {
    this.audit = new AuditSink({ database: storeLocation(paths, options.database), jsonl: options.auditLog ?? join(paths.data, "logs", "egress.jsonl") });
    this.proxy = new EgressProxy({ upstreamCa: upstreamTrust(), ...options, audit: this.audit, metrics: this.metrics });
    this.socketDir = join(paths.runtime, "egress");
    mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Gives an agent its egress identity: a socket of its own (a given path: the one it had before a restart), judged by its
   * allowlist; with credentials, a CA of its own and the secrets read once (a missing one fails here, before the agent starts).
   */
  async attach(agentId: string, policy: EgressPolicy, socketPath = join(this.socketDir, `${agentId}-${randomBytes(3).toString("hex")}.sock`)): Promise<EgressAttachment> {
    const attachment: EgressAttachment = { socket: socketPath, env: {} };
    let secrets: CredentialHandling | undefined;
    if (policy.credentials?.length) {
      const files = credentialFiles(socketPath);
      // Kept beside the socket (host only, 0600): a restarted daemon gives a running agent the CA, and so the placeholders, it has.
      const saved = existsSync(files.state) ? (JSON.parse(readFileSync(files.state, "utf8")) as CaMaterial) : undefined;
      // Loaded only for agents with credentials: certificate generation is not free to import.
      const { AgentCa } = await import("./ca.js");
      const ca = saved ? await AgentCa.load(saved) : await AgentCa.create(agentId);
      const credentials = await AgentCredentials.load(policy.credentials, { env: process.env, kubeSecretsDir: this.options.kubeSecretsDir }, ca.material.key);
      replaceFile(files.state, JSON.stringify(ca.material), 0o600);
      const hostBundle = existsSync(HOST_CA_BUNDLE) ? readFileSync(HOST_CA_BUNDLE, "utf8") : "";
      replaceFile(files.bundle, `${hostBundle}${hostBundle.endsWith("\n") || !hostBundle ? "" : "\n"}${ca.material.cert}`, 0o644);
      secrets = { credentials, ca };
      Object.assign(attachment, { caBundle: files.bundle, env: credentials.environment() });
    }
    await this.proxy.addAgent(agentId, policy.allowed_hosts, socketPath, secrets);
    this.attachments.set(agentId, attachment);
    return attachment;
  }

  /**
   * An agent of the standalone proxy's config (it names itself on the TCP listener with its token). Its CA comes from
   * files, so that every replica of the proxy, and the agent's pod, agree on it.
   */
  async addConfigured(agent: EgressConfig["agents"][number]): Promise<void> {
    let secrets: CredentialHandling | undefined;
    if (agent.credentials.length > 0 && agent.ca) {
      const { AgentCa } = await import("./ca.js");
      let ca: Awaited<ReturnType<typeof AgentCa.load>>;
      try {
        ca = await AgentCa.load({ cert: readFileSync(agent.ca.cert_file, "utf8"), key: readFileSync(agent.ca.key_file, "utf8") });
      } catch (err) {
        throw new CredentialError("egress_ca_unreadable", `the CA of agent ${agent.agent_id} cannot be read: ${(err as Error).message}`, `${agent.agent_id}.ca`, "make one with `paddock egress ca --agent ID --out DIR`");
      }
      secrets = { credentials: await AgentCredentials.load(agent.credentials, { env: process.env, kubeSecretsDir: this.options.kubeSecretsDir }, ca.material.key), ca };
    }
    await this.proxy.addAgent(agent.agent_id, agent.allowed_hosts, undefined, secrets);
  }

  /** The attachment of an agent that has an egress identity already (a running agent whose task runs beside it). */
  attachmentOf(agentId: string): EgressAttachment | undefined {
    return this.attachments.get(agentId);
  }

  async detach(agentId: string): Promise<void> {
    const attachment = this.attachments.get(agentId);
    this.attachments.delete(agentId);
    await this.proxy.removeAgent(agentId);
    if (attachment) for (const file of Object.values(credentialFiles(attachment.socket))) rmSync(file, { force: true });
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.audit.close();
  }
}

/** Written beside and renamed over: a running sandbox keeps the file it mounted, never a half-written one. */
function replaceFile(path: string, content: string, mode: number): void {
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temporary, content, { mode });
  renameSync(temporary, path);
}

function credentialFiles(socketPath: string): { state: string; bundle: string } {
  const base = socketPath.replace(/\.sock$/, "");
  return { state: `${base}.ca.json`, bundle: `${base}.ca.crt` };
}
