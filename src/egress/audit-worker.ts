import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { openStoreAt, type EgressRecord } from "../store/index.js";
import type { AuditTarget } from "./audit.js";

/** The audit writer: receives batches of JSON lines, appends them to the file and inserts them in one transaction. */
const target = workerData as AuditTarget;
const store = target.database ? openStoreAt(target.database) : undefined;
if (target.jsonl) mkdirSync(dirname(target.jsonl), { recursive: true });

parentPort!.on("message", async ({ id, lines }: { id: number; lines: string[] }) => {
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
});
