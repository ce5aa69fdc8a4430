import { Worker } from "node:worker_threads";
import type { EgressRecord } from "../store/index.js";

export interface AuditTarget {
  /** SQLite file of the store; omitted: records go to the JSON-lines file only. */
  database?: string;
  /** JSON-lines audit file. */
  jsonl?: string;
}

/**
 * Where every egress decision goes: the store and a JSON-lines file (one line
 * per decision, with the agent id). Writing both happens in a worker thread,
 * in batches: the proxy's event loop only serialises the record, so disk and
 * SQLite transactions never stall a request.
 */
export class AuditSink {
  private pending: string[] = [];
  private timer?: NodeJS.Timeout;
  private readonly worker: Worker;
  private nextId = 0;
  private readonly acks = new Map<number, () => void>();

  constructor(
    target: AuditTarget,
    private readonly flushMs = 50,
  ) {
    this.worker = new Worker(new URL("./audit-worker.js", import.meta.url), { workerData: target });
    this.worker.on("message", (id: number) => {
      this.acks.get(id)?.();
      this.acks.delete(id);
      if (this.acks.size === 0) this.worker.unref();
    });
    this.worker.on("error", (err) => {
      process.stderr.write(`${JSON.stringify({ level: "error", msg: "egress audit writer failed", error: err.message })}\n`);
      for (const ack of this.acks.values()) ack();
      this.acks.clear();
    });
    this.worker.unref();
  }

  record(entry: EgressRecord): void {
    this.pending.push(JSON.stringify(entry));
    if (this.pending.length >= 1000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Resolves once everything recorded so far is in the store and the file. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.pending;
    this.pending = [];
    const id = this.nextId++;
    // Referenced only while a batch is on its way, so an idle audit writer never keeps the process alive.
    this.worker.ref();
    return new Promise((resolve) => {
      this.acks.set(id, resolve);
      this.worker.postMessage({ id, lines });
    });
  }

  async close(): Promise<void> {
    await this.flush();
    await this.worker.terminate();
  }
}
