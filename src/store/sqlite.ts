import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { PaddockError } from "../errors/index.js";
import { FINAL_STATES, runSummaryOf, type AgentRecord, type EgressQuery, type EgressRecord, type EgressSummary, type EgressSummaryQuery, type KeyRecord, type RunRecord, type RunSummary, type RunSummaryQuery, type UsagePage, type UsagePageQuery, type UsageRecord, type UsageSummary, type UsageSummaryQuery } from "./records.js";
import { egressSummarySql, oldestFirst, runSummaryMigration, runSummarySql, usagePageSql, usageSummarySql } from "./summary.js";
import { RATE_SQL, rateDecision, type RateDecision, type RateQuery } from "./rate.js";
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
  `CREATE TABLE gateway_keys (
     token_hash TEXT PRIMARY KEY,
     key_name TEXT NOT NULL,
     key_alias TEXT,
     models TEXT NOT NULL,
     max_budget REAL,
     spend REAL NOT NULL DEFAULT 0,
     rpm_limit INTEGER,
     tpm_limit INTEGER,
     expires TEXT,
     metadata TEXT NOT NULL,
     user_id TEXT,
     team_id TEXT,
     created_at TEXT NOT NULL,
     blocked INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE gateway_usage (
     id INTEGER PRIMARY KEY,
     time TEXT NOT NULL,
     token_hash TEXT,
     agent_id TEXT,
     model TEXT NOT NULL,
     deployment TEXT,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cost REAL NOT NULL,
     latency_ms REAL NOT NULL,
     status INTEGER NOT NULL,
     capped INTEGER NOT NULL,
     stream INTEGER NOT NULL
   );
   CREATE INDEX gateway_usage_key ON gateway_usage (token_hash, time);
   CREATE INDEX gateway_usage_agent ON gateway_usage (agent_id, time);`,
  `CREATE TABLE agents (
     agent_id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, card TEXT NOT NULL, card_path TEXT, sandbox TEXT, pid INTEGER,
     log_path TEXT NOT NULL, restarts INTEGER NOT NULL, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT, exit TEXT, error TEXT);`,
  `ALTER TABLE agents ADD COLUMN pid_start TEXT;
   ALTER TABLE agents ADD COLUMN egress_socket TEXT;`,
  `CREATE TABLE runs (run_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, created_at TEXT NOT NULL, record TEXT NOT NULL);
   CREATE INDEX runs_agent ON runs (agent_id, created_at);`,
  `ALTER TABLE egress_audit ADD COLUMN credential TEXT;`,
  `ALTER TABLE gateway_keys ADD COLUMN budget_duration TEXT;
   ALTER TABLE gateway_keys ADD COLUMN budget_reset_at TEXT;
   ALTER TABLE gateway_keys ADD COLUMN max_tokens_budget INTEGER;
   ALTER TABLE gateway_keys ADD COLUMN tokens_used INTEGER NOT NULL DEFAULT 0;`,
  runSummaryMigration("TEXT", "json_object", { value: (f) => `json_extract(record, '$.${f}')`, text: (f) => `json_extract(record, '$.${f}')`, count: (f) => `json_array_length(record, '$.${f}')` }),
  `CREATE TABLE gateway_calls (call_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, at_ms REAL NOT NULL, tokens INTEGER NOT NULL DEFAULT 0);
   CREATE INDEX gateway_calls_key ON gateway_calls (token_hash, at_ms);`,
];

const AGENT_COLUMNS = ["agent_id", "kind", "state", "card", "card_path", "sandbox", "pid", "pid_start", "egress_socket", "log_path", "restarts", "created_at", "started_at", "ended_at", "exit", "error"] as const;
const AGENT_JSON = new Set(["card", "exit"]);

const KEY_COLUMNS = ["token_hash", "key_name", "key_alias", "models", "max_budget", "spend", "rpm_limit", "tpm_limit", "expires", "metadata", "user_id", "team_id", "created_at", "blocked", "budget_duration", "budget_reset_at", "max_tokens_budget", "tokens_used"] as const;
const USAGE_COLUMNS = ["time", "token_hash", "agent_id", "model", "deployment", "input_tokens", "output_tokens", "cost", "latency_ms", "status", "capped", "stream"] as const;

/** SQLite has no JSON or boolean columns: they are stored as text and integers. */
function keyToRow(key: Partial<KeyRecord>): Record<string, unknown> {
  const row: Record<string, unknown> = { ...key };
  if (key.models) row.models = JSON.stringify(key.models);
  if (key.metadata) row.metadata = JSON.stringify(key.metadata);
  if (key.blocked !== undefined) row.blocked = key.blocked ? 1 : 0;
  return row;
}

function rowToKey(row: Record<string, unknown>): KeyRecord {
  return { ...row, models: JSON.parse(row.models as string), metadata: JSON.parse(row.metadata as string), blocked: row.blocked === 1 } as KeyRecord;
}

function agentToRow(agent: Partial<AgentRecord>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(agent).map(([k, v]) => [k, AGENT_JSON.has(k) && v !== null && v !== undefined ? JSON.stringify(v) : v]));
}

function rowToAgent(row: Record<string, unknown>): AgentRecord {
  return { ...row, card: JSON.parse(row.card as string), exit: row.exit ? JSON.parse(row.exit as string) : null } as AgentRecord;
}

function rowToUsage(row: Record<string, unknown>): UsageRecord {
  return { ...row, capped: row.capped === 1, stream: row.stream === 1 } as UsageRecord;
}

const COLUMNS = ["time", "agent_id", "method", "host", "port", "address", "decision", "rule", "reason", "status", "bytes_up", "bytes_down", "duration_ms", "credential"] as const;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly insertEgress: Database.Statement;
  private readonly insertUsage: Database.Statement;
  private readonly addSpend: Database.Statement;
  private readonly selectKey: Database.Statement;

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
    this.insertUsage = this.db.prepare(`INSERT INTO gateway_usage (${USAGE_COLUMNS.join(", ")}) VALUES (${USAGE_COLUMNS.map((c) => `@${c}`).join(", ")})`);
    this.addSpend = this.db.prepare("UPDATE gateway_keys SET spend = spend + @cost, tokens_used = tokens_used + @tokens WHERE token_hash = @token_hash");
    this.selectKey = this.db.prepare("SELECT * FROM gateway_keys WHERE token_hash = ?");
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

  async egressSummary(query: EgressSummaryQuery): Promise<EgressSummary[]> {
    const { sql, values } = egressSummarySql(query, () => "?", (seconds) => `(CAST(strftime('%s', time) AS INTEGER) / ${seconds} * ${seconds})`);
    return this.db.prepare(sql).all(...values) as EgressSummary[];
  }

  async insertKey(key: KeyRecord): Promise<void> {
    this.db.prepare(`INSERT INTO gateway_keys (${KEY_COLUMNS.join(", ")}) VALUES (${KEY_COLUMNS.map((c) => `@${c}`).join(", ")})`).run(keyToRow(key));
  }

  async keyByHash(tokenHash: string): Promise<KeyRecord | undefined> {
    const row = this.selectKey.get(tokenHash) as Record<string, unknown> | undefined;
    return row && rowToKey(row);
  }

  async updateKey(tokenHash: string, patch: Partial<Omit<KeyRecord, "token_hash">>): Promise<KeyRecord | undefined> {
    const fields = Object.keys(patch).filter((k) => (KEY_COLUMNS as readonly string[]).includes(k) && k !== "token_hash");
    if (fields.length > 0) {
      this.db.prepare(`UPDATE gateway_keys SET ${fields.map((f) => `${f} = @${f}`).join(", ")} WHERE token_hash = @token_hash`).run({ ...keyToRow(patch), token_hash: tokenHash });
    }
    return this.keyByHash(tokenHash);
  }

  async deleteKeys(tokenHashes: string[]): Promise<string[]> {
    const remove = this.db.prepare("DELETE FROM gateway_keys WHERE token_hash = ?");
    return this.db.transaction(() => tokenHashes.filter((h) => remove.run(h).changes > 0))();
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (this.db.prepare("SELECT * FROM gateway_keys ORDER BY created_at").all() as Array<Record<string, unknown>>).map(rowToKey);
  }

  async recordUsage(rows: UsageRecord[]): Promise<void> {
    this.db.transaction(() => {
      for (const row of rows) {
        this.insertUsage.run({ ...row, capped: row.capped ? 1 : 0, stream: row.stream ? 1 : 0 });
        const tokens = row.input_tokens + row.output_tokens;
        if (row.token_hash && (row.cost > 0 || tokens > 0)) this.addSpend.run({ token_hash: row.token_hash, cost: row.cost, tokens });
      }
    })();
  }

  async admitCall(query: RateQuery): Promise<RateDecision> {
    const p = () => "?";
    // IMMEDIATE: the write lock first, so gateways in other processes on this file take turns.
    return this.db
      .transaction(() => {
        this.db.prepare(RATE_SQL.prune(p)).run(query.token_hash, query.now_ms - query.window_ms);
        const window = this.db.prepare(RATE_SQL.window(p)).get(query.token_hash) as { calls: number; tokens: number; oldest: number | null };
        const decision = rateDecision(query, window, randomUUID());
        if (decision.admitted) this.db.prepare(RATE_SQL.insert(p)).run(decision.call_id, query.token_hash, query.now_ms);
        return decision;
      })
      .immediate();
  }

  async chargeCall(callId: string, tokens: number): Promise<void> {
    this.db.prepare(RATE_SQL.charge(() => "?")).run(tokens, callId);
  }

  async usage(query: { tokenHash?: string; agentId?: string; limit?: number }): Promise<UsageRecord[]> {
    return oldestFirst(await this.usagePage({ ...query, offset: 0, limit: query.limit ?? 1000 }));
  }

  async usageSummary(query: UsageSummaryQuery): Promise<UsageSummary[]> {
    const { sql, values } = usageSummarySql(query, () => "?");
    return this.db.prepare(sql).all(...values) as UsageSummary[];
  }

  async usagePage(query: UsagePageQuery): Promise<UsagePage> {
    const { page, count, values } = usagePageSql(query, USAGE_COLUMNS, () => "?");
    const rows = (this.db.prepare(page).all(...values) as Array<Record<string, unknown>>).map((r) => ({ ...rowToUsage(r), id: r.id as number }));
    return { rows, total: (this.db.prepare(count).get(...values) as { total: number }).total };
  }

  async claimAgent(agent: AgentRecord): Promise<AgentRecord | undefined> {
    return this.db.transaction(() => {
      const existing = this.db.prepare("SELECT * FROM agents WHERE agent_id = ?").get(agent.agent_id) as Record<string, unknown> | undefined;
      if (existing && !FINAL_STATES.includes(existing.state as AgentRecord["state"])) return rowToAgent(existing);
      this.db.prepare(`INSERT OR REPLACE INTO agents (${AGENT_COLUMNS.join(", ")}) VALUES (${AGENT_COLUMNS.map((c) => `@${c}`).join(", ")})`).run(agentToRow(agent));
      return undefined;
    })();
  }

  async updateAgent(agentId: string, patch: Partial<Omit<AgentRecord, "agent_id">>): Promise<void> {
    const fields = Object.keys(patch).filter((k) => (AGENT_COLUMNS as readonly string[]).includes(k) && k !== "agent_id");
    if (fields.length === 0) return;
    this.db.prepare(`UPDATE agents SET ${fields.map((f) => `${f} = @${f}`).join(", ")} WHERE agent_id = @agent_id`).run({ ...agentToRow(patch), agent_id: agentId });
  }

  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    const row = this.db.prepare("SELECT * FROM agents WHERE agent_id = ?").get(agentId) as Record<string, unknown> | undefined;
    return row && rowToAgent(row);
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (this.db.prepare("SELECT * FROM agents ORDER BY created_at").all() as Array<Record<string, unknown>>).map(rowToAgent);
  }

  async saveRun(run: RunRecord): Promise<void> {
    this.db.prepare("INSERT OR REPLACE INTO runs (run_id, agent_id, created_at, record, summary) VALUES (?, ?, ?, ?, ?)").run(run.run_id, run.agent_id, run.created_at, JSON.stringify(run), JSON.stringify(runSummaryOf(run)));
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = this.db.prepare("SELECT record FROM runs WHERE run_id = ?").get(runId) as { record: string } | undefined;
    return row && (JSON.parse(row.record) as RunRecord);
  }

  async listRuns(query: { agentId?: string; limit?: number }): Promise<RunRecord[]> {
    const rows = this.db
      .prepare(`SELECT record FROM runs ${query.agentId ? "WHERE agent_id = @agentId" : ""} ORDER BY created_at DESC LIMIT @limit`)
      .all({ agentId: query.agentId, limit: query.limit ?? 100 }) as Array<{ record: string }>;
    return rows.map((r) => JSON.parse(r.record) as RunRecord);
  }

  async runSummaries(query: RunSummaryQuery): Promise<RunSummary[]> {
    const { sql, values } = runSummarySql(query, () => "?", (f) => `json_extract(summary, '$.${f}')`);
    return (this.db.prepare(sql).pluck().all(...values) as string[]).map((summary) => JSON.parse(summary) as RunSummary);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
