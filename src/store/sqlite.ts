import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { PaddockError } from "../errors/index.js";
import type { EgressQuery, EgressRecord } from "./records.js";
import type { Store } from "./types.js";

/** Schema changes in order; `PRAGMA user_version` records how many have been applied. */
const MIGRATIONS = [
  `CREATE TABLE egress_audit (
     id INTEGER PRIMARY KEY,
     time TEXT NOT NULL,
     agent_id TEXT NOT NULL,
     method TEXT NOT NULL,
     host TEXT NOT NULL,
     port INTEGER NOT NULL,
     address TEXT,
     decision TEXT NOT NULL CHECK (decision IN ('allowed', 'denied')),
     rule TEXT,
     reason TEXT NOT NULL,
     status INTEGER,
     bytes_up INTEGER NOT NULL,
     bytes_down INTEGER NOT NULL,
     duration_ms REAL NOT NULL
   );
   CREATE INDEX egress_audit_agent_time ON egress_audit (agent_id, time);
   CREATE INDEX egress_audit_time ON egress_audit (time);`,
];

const COLUMNS = ["time", "agent_id", "method", "host", "port", "address", "decision", "rule", "reason", "status", "bytes_up", "bytes_down", "duration_ms"] as const;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly insertEgress: Database.Statement;

  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
    } catch (err) {
      throw new PaddockError("store_unavailable", `cannot open the SQLite store: ${(err as Error).message}`, path);
    }
    // WAL lets several paddock processes read while one writes; busy_timeout makes writers queue instead of failing.
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("synchronous = NORMAL");
    this.migrate();
    this.insertEgress = this.db.prepare(`INSERT INTO egress_audit (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => `@${c}`).join(", ")})`);
  }

  private migrate(): void {
    const applied = this.db.pragma("user_version", { simple: true }) as number;
    if (applied > MIGRATIONS.length) {
      throw new PaddockError("store_too_new", `the store was written by a newer paddock (schema ${applied}, this one knows ${MIGRATIONS.length})`, this.path, "upgrade paddock");
    }
    this.db.transaction(() => {
      for (let i = applied; i < MIGRATIONS.length; i++) this.db.exec(MIGRATIONS[i]!);
      this.db.pragma(`user_version = ${MIGRATIONS.length}`);
    })();
  }

  async recordEgress(records: EgressRecord[]): Promise<void> {
    this.db.transaction((rows: EgressRecord[]) => {
      for (const row of rows) this.insertEgress.run(row);
    })(records);
  }

  async egressLog(query: EgressQuery): Promise<EgressRecord[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (query.agentId) (where.push("agent_id = @agentId"), (params.agentId = query.agentId));
    if (query.deniedOnly) where.push("decision = 'denied'");
    if (query.since) (where.push("time >= @since"), (params.since = query.since));
    const sql = `SELECT ${COLUMNS.join(", ")} FROM egress_audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT @limit`;
    const rows = this.db.prepare(sql).all({ ...params, limit: query.limit ?? 1000 }) as EgressRecord[];
    return rows.reverse();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
