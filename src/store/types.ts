import type { EgressQuery, EgressRecord, KeyRecord, UsageRecord } from "./records.js";

/** paddock's persistence; async so that a networked database fits behind the same interface. */
export interface Store {
  recordEgress(records: EgressRecord[]): Promise<void>;
  egressLog(query: EgressQuery): Promise<EgressRecord[]>;
  insertKey(key: KeyRecord): Promise<void>;
  keyByHash(tokenHash: string): Promise<KeyRecord | undefined>;
  updateKey(tokenHash: string, patch: Partial<Omit<KeyRecord, "token_hash">>): Promise<KeyRecord | undefined>;
  deleteKeys(tokenHashes: string[]): Promise<string[]>;
  listKeys(): Promise<KeyRecord[]>;
  /** Adds to a key's spend in the same transaction as its usage rows. */
  recordUsage(rows: UsageRecord[]): Promise<void>;
  usage(query: { tokenHash?: string; agentId?: string; limit?: number }): Promise<UsageRecord[]>;
  close(): Promise<void>;
}
