import { join } from "node:path";
import type { PaddockPaths } from "../paths/index.js";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./types.js";

export { AgentRecordSchema, EGRESS_GROUPS, EgressRecordSchema, FINAL_STATES, KeyRecordSchema, RUN_DIFF_MAX_BYTES, RunRecordSchema, RunSummarySchema, runSummaryOf, USAGE_GROUPS, UsageRecordSchema, UsageSummarySchema, type AgentRecord, type EgressGroup, type EgressQuery, type EgressRecord, type EgressSummary, type EgressSummaryQuery, type KeyRecord, type RunRecord, type RunSummary, type RunSummaryQuery, type UsageGroup, type UsagePage, type UsagePageQuery, type UsageRecord, type UsageSummary, type UsageSummaryQuery } from "./records.js";
export type { Store } from "./types.js";
export type { RateDecision, RateQuery } from "./rate.js";

/** The store at `database` (a SQLite file path or a postgres:// URL), or the default SQLite file in paddock's data folder. */
export function openStore(paths: PaddockPaths, database?: string): Store {
  return openStoreAt(storeLocation(paths, database));
}

export function storeLocation(paths: PaddockPaths, database?: string): string {
  return database ?? join(paths.data, "paddock.db");
}

/** A postgres:// URL opens PostgreSQL; anything else is a SQLite file path. */
export function openStoreAt(location: string): Store {
  return /^postgres(ql)?:\/\//.test(location) ? new PostgresStore(location) : new SqliteStore(location);
}
