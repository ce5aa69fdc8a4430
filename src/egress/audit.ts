import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import type { EgressRecord, Store } from "../store/index.js";

/**
 * Where every egress decision goes: the store, in batches (one transaction per
 * flush keeps the proxy's hot path free of disk waits), and a JSON-lines file,
 * one line per decision with the agent id.
 */
export class AuditSink {
  private pending: EgressRecord[] = [];
  private timer?: NodeJS.Timeout;
  private readonly file?: WriteStream;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store | undefined,
    jsonlPath: string | undefined,
    private readonly flushMs = 200,
  ) {
    if (jsonlPath) {
      mkdirSync(dirname(jsonlPath), { recursive: true });
      this.file = createWriteStream(jsonlPath, { flags: "a" });
    }
  }

  record(entry: EgressRecord): void {
    this.file?.write(`${JSON.stringify(entry)}\n`);
    if (!this.store) return;
    this.pending.push(entry);
    if (this.pending.length >= 500) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0 && this.store) {
      const store = this.store;
      this.flushing = this.flushing.then(() => store.recordEgress(batch)).catch((err: Error) => {
        process.stderr.write(`${JSON.stringify({ level: "error", msg: "egress audit not stored", error: err.message, lost: batch.length })}\n`);
      });
    }
    return this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve) => (this.file ? this.file.end(resolve) : resolve()));
  }
}
