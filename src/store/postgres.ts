import { randomUUID } from "node:crypto";
import pg from "pg";
import { PaddockError } from "../errors/index.js";
import { FINAL_STATES, runSummaryOf, type AgentRecord, type EgressQuery, type EgressRecord, type EgressSummary, type EgressSummaryQuery, type KeyRecord, type RunRecord, type RunSummary, type RunSummaryQuery, type UsagePage, type UsagePageQuery, type UsageRecord, type UsageSummary, type UsageSummaryQuery } from "./records.js";
import { egressSummarySql, oldestFirst, runSummaryMigration, runSummarySql, usagePageSql, usageSummarySql } from "./summary.js";
import { RATE_SQL, rateDecision, type RateDecision, type RateQuery } from "./rate.js";
import type { Store } from "./types.js";

/** The same schema as SQLite's, in PostgreSQL's types; applied in order, recorded in paddock_migrations. */
const MIGRATIONS = [
  `CREATE TABLE egress_audit (
     id BIGSERIAL PRIMARY KEY, time TEXT NOT NULL, agent_id TEXT NOT NULL, method TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,
     address TEXT, decision TEXT NOT NULL CHECK (decision IN ('allowed', 'denied')), rule TEXT, reason TEXT NOT NULL, status INTEGER,
     bytes_up BIGINT NOT NULL, bytes_down BIGINT NOT NULL, duration_ms DOUBLE PRECISION NOT NULL);
   CREATE INDEX egress_audit_agent_time ON egress_audit (agent_id, time);
   CREATE INDEX egress_audit_time ON egress_audit (time);`,
  `CREATE TABLE gateway_keys (
     token_hash TEXT PRIMARY KEY, key_name TEXT NOT NULL, key_alias TEXT, models JSONB NOT NULL, max_budget DOUBLE PRECISION,
     spend DOUBLE PRECISION NOT NULL DEFAULT 0, rpm_limit INTEGER, tpm_limit INTEGER, expires TEXT, metadata JSONB NOT NULL,
     user_id TEXT, team_id TEXT, created_at TEXT NOT NULL, blocked BOOLEAN NOT NULL DEFAULT FALSE);
   CREATE TABLE gateway_usage (
     id BIGSERIAL PRIMARY KEY, time TEXT NOT NULL, token_hash TEXT, agent_id TEXT, model TEXT NOT NULL, deployment TEXT,
     input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost DOUBLE PRECISION NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
     status INTEGER NOT NULL, capped BOOLEAN NOT NULL, stream BOOLEAN NOT NULL);
   CREATE INDEX gateway_usage_key ON gateway_usage (token_hash, time);
   CREATE INDEX gateway_usage_agent ON gateway_usage (agent_id, time);`,
  `CREATE TABLE agents (
     agent_id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, card JSONB NOT NULL, card_path TEXT, sandbox TEXT, pid INTEGER,
     log_path TEXT NOT NULL, restarts INTEGER NOT NULL, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT, exit JSONB, error TEXT);`,
  `ALTER TABLE agents ADD COLUMN pid_start TEXT;
   ALTER TABLE agents ADD COLUMN egress_socket TEXT;`,
  `CREATE TABLE runs (run_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, created_at TEXT NOT NULL, record JSONB NOT NULL);
   CREATE INDEX runs_agent ON runs (agent_id, created_at);`,
  `ALTER TABLE egress_audit ADD COLUMN credential TEXT;`,
  // Token counts as DOUBLE PRECISION (exact to 2^53): BIGINT would come back as strings.
  `ALTER TABLE gateway_keys ADD COLUMN budget_duration TEXT;
   ALTER TABLE gateway_keys ADD COLUMN budget_reset_at TEXT;
   ALTER TABLE gateway_keys ADD COLUMN max_tokens_budget DOUBLE PRECISION;
   ALTER TABLE gateway_keys ADD COLUMN tokens_used DOUBLE PRECISION NOT NULL DEFAULT 0;`,
  runSummaryMigration("JSONB", "jsonb_build_object", { value: (f) => `record->'${f}'`, text: (f) => `record->>'${f}'`, count: (f) => `jsonb_array_length(record->'${f}')` }),
  `CREATE TABLE gateway_calls (call_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, at_ms DOUBLE PRECISION NOT NULL, tokens DOUBLE PRECISION NOT NULL DEFAULT 0);
   CREATE INDEX gateway_calls_key ON gateway_calls (token_hash, at_ms);`,
];

const EGRESS = ["time", "agent_id", "method", "host", "port", "address", "decision", "rule", "reason", "status", "bytes_up", "bytes_down", "duration_ms", "credential"] as const;
const KEYS = ["token_hash", "key_name", "key_alias", "models", "max_budget", "spend", "rpm_limit", "tpm_limit", "expires", "metadata", "user_id", "team_id", "created_at", "blocked", "budget_duration", "budget_reset_at", "max_tokens_budget", "tokens_used"] as const;
const AGENTS = ["agent_id", "kind", "state", "card", "card_path", "sandbox", "pid", "pid_start", "egress_socket", "log_path", "restarts", "created_at", "started_at", "ended_at", "exit", "error"] as const;
const USAGE = ["time", "token_hash", "agent_id", "model", "deployment", "input_tokens", "output_tokens", "cost", "latency_ms", "status", "capped", "stream"] as const;

/**
 * PostgreSQL, for several paddock replicas sharing state. `database_url` is a
 * postgres:// URL; an extra `schema` parameter puts paddock's tables in a schema
 * of their own (created if missing).
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly ready: Promise<void>;

  constructor(readonly url: string) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get("schema");
    parsed.searchParams.delete("schema");
    if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new PaddockError("store_schema_invalid", `schema '${schema}' must be a plain lower-case identifier`, "database_url");
    this.pool = new pg.Pool({ connectionString: parsed.toString(), max: 10 });
    this.pool.on("error", () => undefined);
    if (schema) this.pool.on("connect", (client) => void client.query(`SET search_path TO ${schema}`));
    this.ready = this.migrate(schema).catch((err: Error) => {
      throw new PaddockError("store_unavailable", `cannot use the PostgreSQL store: ${err.message}`, redact(url));
    });
  }

  private async migrate(schema: string | null): Promise<void> {
    const client = await this.pool.connect();
    try {
      // One migrator at a time across replicas.
      await client.query("SELECT pg_advisory_lock(7226170)");
      if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
      await client.query("CREATE TABLE IF NOT EXISTS paddock_migrations (version INTEGER PRIMARY KEY)");
      const { rows } = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM paddock_migrations");
      const applied = rows[0]?.v ?? 0;
      if (applied > MIGRATIONS.length) throw new Error(`the store was written by a newer paddock (schema ${applied}, this one knows ${MIGRATIONS.length})`);
      for (let i = applied; i < MIGRATIONS.length; i++) {
        await client.query("BEGIN");
        await client.query(MIGRATIONS[i]!);
        await client.query("INSERT INTO paddock_migrations (version) VALUES ($1)", [i + 1]);
        await client.query("COMMIT");
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock(7226170)").catch(() => undefined);
      client.release();
    }
  }

  private async query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
    await this.ready;
    return (await this.pool.query<T>(sql, values)).rows;
  }

  async recordEgress(records: EgressRecord[]): Promise<void> {
    if (records.length > 0) await this.insertMany("egress_audit", EGRESS, records as unknown as Array<Record<string, unknown>>);
  }

  async egressLog(q: EgressQuery): Promise<EgressRecord[]> {
    const { where, values } = conditions([
      [q.agentId, "agent_id = $"],
      [q.deniedOnly ? true : undefined, "decision = 'denied' AND $::boolean"],
      [q.since, "time >= $"],
    ]);
    const rows = await this.query<Record<string, unknown>>(`SELECT ${EGRESS.join(", ")} FROM egress_audit ${where} ORDER BY id DESC LIMIT ${Number(q.limit ?? 1000)}`, values);
    return rows.map((r) => ({ ...r, bytes_up: Number(r.bytes_up), bytes_down: Number(r.bytes_down) }) as EgressRecord).reverse();
  }

  async egressSummary(query: EgressSummaryQuery): Promise<EgressSummary[]> {
    const { sql, values } = egressSummarySql(query, (n) => `$${n}`, (seconds) => `(floor(extract(epoch from time::timestamptz) / ${seconds}) * ${seconds})::bigint`);
    // COUNT, SUM and bigint come back as strings.
    const rows = await this.query<Record<string, unknown>>(sql, values);
    return rows.map((r) => ({ ...r, requests: Number(r.requests), bytes_down: Number(r.bytes_down), ...(r.bucket !== undefined ? { bucket: Number(r.bucket) } : {}) }) as EgressSummary);
  }

  async insertKey(key: KeyRecord): Promise<void> {
    await this.insertMany("gateway_keys", KEYS, [{ ...key, models: JSON.stringify(key.models), metadata: JSON.stringify(key.metadata) }]);
  }

  async keyByHash(tokenHash: string): Promise<KeyRecord | undefined> {
    return (await this.query<KeyRecord>("SELECT * FROM gateway_keys WHERE token_hash = $1", [tokenHash]))[0];
  }

  async updateKey(tokenHash: string, patch: Partial<Omit<KeyRecord, "token_hash">>): Promise<KeyRecord | undefined> {
    const fields = Object.keys(patch).filter((k) => (KEYS as readonly string[]).includes(k) && k !== "token_hash") as Array<keyof typeof patch>;
    if (fields.length > 0) {
      const values = fields.map((f) => (f === "models" || f === "metadata" ? JSON.stringify(patch[f]) : patch[f]));
      await this.query(`UPDATE gateway_keys SET ${fields.map((f, i) => `${f} = $${i + 2}`).join(", ")} WHERE token_hash = $1`, [tokenHash, ...values]);
    }
    return this.keyByHash(tokenHash);
  }

  async deleteKeys(tokenHashes: string[]): Promise<string[]> {
    return (await this.query<{ token_hash: string }>("DELETE FROM gateway_keys WHERE token_hash = ANY($1) RETURNING token_hash", [tokenHashes])).map((r) => r.token_hash);
  }

  async listKeys(): Promise<KeyRecord[]> {
    return this.query<KeyRecord>("SELECT * FROM gateway_keys ORDER BY created_at");
  }

  async recordUsage(rows: UsageRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ready;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(insertSql("gateway_usage", USAGE, rows.length), rows.flatMap((r) => USAGE.map((c) => r[c])));
      for (const r of rows) {
        const tokens = r.input_tokens + r.output_tokens;
        if (r.token_hash && (r.cost > 0 || tokens > 0)) await client.query("UPDATE gateway_keys SET spend = spend + $2, tokens_used = tokens_used + $3 WHERE token_hash = $1", [r.token_hash, r.cost, tokens]);
      }
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async admitCall(query: RateQuery): Promise<RateDecision> {
    await this.ready;
    const client = await this.pool.connect();
    const p = (i: number) => `$${i}`;
    try {
      await client.query("BEGIN");
      // One key's calls, one transaction at a time, whichever gateway takes them.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [query.token_hash]);
      await client.query(RATE_SQL.prune(p), [query.token_hash, query.now_ms - query.window_ms]);
      const { rows } = await client.query<{ calls: string; tokens: number; oldest: number | null }>(RATE_SQL.window(p), [query.token_hash]);
      const decision = rateDecision(query, { calls: Number(rows[0]!.calls), tokens: Number(rows[0]!.tokens), oldest: rows[0]!.oldest }, randomUUID());
      if (decision.admitted) await client.query(RATE_SQL.insert(p), [decision.call_id, query.token_hash, query.now_ms]);
      await client.query("COMMIT");
      return decision;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async chargeCall(callId: string, tokens: number): Promise<void> {
    await this.ready;
    await this.pool.query(RATE_SQL.charge((i) => `$${i}`), [tokens, callId]);
  }

  async usage(query: { tokenHash?: string; agentId?: string; limit?: number }): Promise<UsageRecord[]> {
    return oldestFirst(await this.usagePage({ ...query, offset: 0, limit: query.limit ?? 1000 }));
  }

  async usageSummary(query: UsageSummaryQuery): Promise<UsageSummary[]> {
    // COUNT and SUM of integers come back as bigint strings.
    const { sql, values } = usageSummarySql(query, (n) => `$${n}`);
    const rows = await this.query<Record<string, string | number | null>>(sql, values);
    return rows.map((r) => ({
      group: r.group === null ? null : String(r.group),
      ...(query.within ? { subgroup: r.subgroup === null ? null : String(r.subgroup) } : {}),
      requests: Number(r.requests),
      input_tokens: Number(r.input_tokens),
      output_tokens: Number(r.output_tokens),
      cost: Number(r.cost),
      rate_limited: Number(r.rate_limited),
    }));
  }

  async usagePage(query: UsagePageQuery): Promise<UsagePage> {
    const { page, count, values } = usagePageSql(query, USAGE, (n) => `$${n}`);
    const [rows, [counted]] = await Promise.all([this.query<UsageRecord & { id: string }>(page, values), this.query<{ total: string }>(count, values)]);
    return { rows: rows.map((r) => ({ ...r, id: Number(r.id) })), total: Number(counted!.total) };
  }

  async claimAgent(agent: AgentRecord): Promise<AgentRecord | undefined> {
    await this.ready;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<AgentRecord>("SELECT * FROM agents WHERE agent_id = $1 FOR UPDATE", [agent.agent_id]);
      if (rows[0] && !FINAL_STATES.includes(rows[0].state)) {
        await client.query("ROLLBACK");
        return rows[0];
      }
      await client.query("DELETE FROM agents WHERE agent_id = $1", [agent.agent_id]);
      await client.query(insertSql("agents", AGENTS, 1), AGENTS.map((c) => jsonColumn(c, agent[c])));
      await client.query("COMMIT");
      return undefined;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      // Two claims racing on a new id: the loser sees the winner's row.
      if ((err as { code?: string }).code === "23505") return this.getAgent(agent.agent_id);
      throw err;
    } finally {
      client.release();
    }
  }

  async updateAgent(agentId: string, patch: Partial<Omit<AgentRecord, "agent_id">>): Promise<void> {
    const fields = Object.keys(patch).filter((k) => (AGENTS as readonly string[]).includes(k) && k !== "agent_id") as Array<keyof typeof patch>;
    if (fields.length === 0) return;
    await this.query(`UPDATE agents SET ${fields.map((f, i) => `${f} = $${i + 2}`).join(", ")} WHERE agent_id = $1`, [agentId, ...fields.map((f) => jsonColumn(f, patch[f]))]);
  }

  async getAgent(agentId: string): Promise<AgentRecord | undefined> {
    return (await this.query<AgentRecord>("SELECT * FROM agents WHERE agent_id = $1", [agentId]))[0];
  }

  async listAgents(): Promise<AgentRecord[]> {
    return this.query<AgentRecord>("SELECT * FROM agents ORDER BY created_at");
  }

  async saveRun(run: RunRecord): Promise<void> {
    await this.query(
      "INSERT INTO runs (run_id, agent_id, created_at, record, summary) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO UPDATE SET record = EXCLUDED.record, summary = EXCLUDED.summary",
      [run.run_id, run.agent_id, run.created_at, JSON.stringify(run), JSON.stringify(runSummaryOf(run))],
    );
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return (await this.query<{ record: RunRecord }>("SELECT record FROM runs WHERE run_id = $1", [runId]))[0]?.record;
  }

  async listRuns(query: { agentId?: string; limit?: number }): Promise<RunRecord[]> {
    const rows = query.agentId
      ? await this.query<{ record: RunRecord }>("SELECT record FROM runs WHERE agent_id = $1 ORDER BY created_at DESC LIMIT $2", [query.agentId, query.limit ?? 100])
      : await this.query<{ record: RunRecord }>("SELECT record FROM runs ORDER BY created_at DESC LIMIT $1", [query.limit ?? 100]);
    return rows.map((r) => r.record);
  }

  async runSummaries(query: RunSummaryQuery): Promise<RunSummary[]> {
    const { sql, values } = runSummarySql(query, (n) => `$${n}`, (f) => `(summary->>'${f}')`);
    return (await this.query<{ summary: RunSummary }>(sql, values)).map((r) => r.summary);
  }

  async close(): Promise<void> {
    await this.ready.catch(() => undefined);
    await this.pool.end();
  }

  private async insertMany(table: string, columns: readonly string[], rows: Array<Record<string, unknown>>): Promise<void> {
    await this.query(insertSql(table, columns, rows.length), rows.flatMap((r) => columns.map((c) => r[c])));
  }
}

function jsonColumn(column: string, value: unknown): unknown {
  return (column === "card" || column === "exit") && value !== null && value !== undefined ? JSON.stringify(value) : value;
}

function insertSql(table: string, columns: readonly string[], count: number): string {
  const tuples = Array.from({ length: count }, (_, row) => `(${columns.map((_, col) => `$${row * columns.length + col + 1}`).join(", ")})`);
  return `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`;
}

/** WHERE clauses for the filters that are set; `$` in each is numbered in order. */
function conditions(filters: Array<[unknown, string]>): { where: string; values: unknown[] } {
  const values: unknown[] = [];
  const parts = filters.filter(([v]) => v !== undefined).map(([v, sql]) => (values.push(v), sql.replace("$", `$${values.length}`)));
  return { where: parts.length ? `WHERE ${parts.join(" AND ")}` : "", values };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}
