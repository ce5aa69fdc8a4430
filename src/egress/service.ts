import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PaddockPaths } from "../paths/index.js";
import { storeLocation } from "../store/index.js";
import { AuditSink } from "./audit.js";
import { EgressMetrics } from "./metrics.js";
import { EgressProxy, type EgressProxyOptions } from "./proxy.js";

/** The proxy with its store, audit log and metrics, as one process runs it. */
export class EgressService {
  readonly metrics = new EgressMetrics();
  readonly audit: AuditSink;
  readonly proxy: EgressProxy;
  private readonly socketDir: string;

  constructor(paths: PaddockPaths, options: Omit<EgressProxyOptions, "audit" | "metrics"> & { auditLog?: string; database?: string } = {}) {
    this.audit = new AuditSink({ database: storeLocation(paths, options.database), jsonl: options.auditLog ?? join(paths.data, "logs", "egress.jsonl") });
    this.proxy = new EgressProxy({ ...options, audit: this.audit, metrics: this.metrics });
    this.socketDir = join(paths.runtime, "egress");
    mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
  }

  /** Gives an agent its egress identity: a socket of its own (a given path: the one it had before a restart), judged by its allowlist. */
  attach(agentId: string, allowedHosts: readonly string[], socketPath = join(this.socketDir, `${agentId}-${randomBytes(3).toString("hex")}.sock`)): Promise<string> {
    return this.proxy.addAgent(agentId, allowedHosts, socketPath);
  }

  /** The socket of an agent that has an egress identity already (a running agent whose task runs beside it). */
  socketOf(agentId: string): string | undefined {
    return this.proxy.socketOf(agentId);
  }

  detach(agentId: string): Promise<void> {
    return this.proxy.removeAgent(agentId);
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.audit.close();
  }
}
