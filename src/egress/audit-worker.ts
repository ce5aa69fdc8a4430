import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { openStoreAt, type EgressRecord } from "../store/index.js";
import type { AuditTarget } from "./audit.js";

/** The audit writer: receives batches of JSON lines, appends them to the file and inserts them in one transaction. */
const target = workerData as AuditTarget;
const store = target.database ? openStoreAt(target.database) : undefined;
if (target.jsonl) mkdirSync(dirname(target.jsonl), { recursive: true });

// Batches are written one after another: a flush's (often empty) batch is acknowledged only once every batch before
// it is stored, also when the store is PostgreSQL and an insert is still on its way.
let written = Promise.resolve();
parentPort!.on("message", (batch: { id: number; lines: string[] }) => {
  written = written.then(() => write(batch));
});

async function write({ id, lines }: { id: number; lines: string[] }): Promise<void> {
  try {
    if (lines.length > 0) {
      if (target.jsonl) appendFileSync(target.jsonl, `${lines.join("\n")}\n`);
      // The lines are paddock's own serialised EgressRecords: parsed, not validated again.
      if (store) await store.recordEgress(lines.map((line) => JSON.parse(line) as EgressRecord));
    }
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: "error", msg: "egress audit not stored", error: (err as Error).message, lost: lines.length })}\n`);
  }
  parentPort!.postMessage(id);
}
