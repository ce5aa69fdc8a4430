import type { RateDecision, RateQuery } from "./rate.js";
import type { AgentRecord, EgressQuery, EgressRecord, EgressSummary, EgressSummaryQuery, KeyRecord, RunRecord, RunSummary, RunSummaryQuery, UsagePage, UsagePageQuery, UsageRecord, UsageSummary, UsageSummaryQuery } from "./records.js";

/** paddock's persistence; async so that a networked database fits behind the same interface. */
export interface Store {
  recordEgress(records: EgressRecord[]): Promise<void>;
  egressLog(query: EgressQuery): Promise<EgressRecord[]>;
  /** Egress decisions counted per group (agent, decision, host, port, reason, time bucket), by the database. */
  egressSummary(query: EgressSummaryQuery): Promise<EgressSummary[]>;
  insertKey(key: KeyRecord): Promise<void>;
  keyByHash(tokenHash: string): Promise<KeyRecord | undefined>;
  updateKey(tokenHash: string, patch: Partial<Omit<KeyRecord, "token_hash">>): Promise<KeyRecord | undefined>;
  deleteKeys(tokenHashes: string[]): Promise<string[]>;
  listKeys(): Promise<KeyRecord[]>;
  /**
   * A call counted in its key's sliding window, in one transaction that every gateway on the store serialises on (per
   * key): admitted while under its rpm and tpm, else refused with what is used and when room comes.
   */
  admitCall(query: RateQuery): Promise<RateDecision>;
  /** The tokens an admitted call used, for its key's tpm. */
  chargeCall(callId: string, tokens: number): Promise<void>;
  /** Adds to a key's spend in the same transaction as its usage rows. */
  recordUsage(rows: UsageRecord[]): Promise<void>;
  usage(query: { tokenHash?: string; agentId?: string; limit?: number }): Promise<UsageRecord[]>;
  /** Usage summed per group (and subgroup), in the groups' order. */
  usageSummary(query: UsageSummaryQuery): Promise<UsageSummary[]>;
  /** Usage rows a page at a time, newest first. */
  usagePage(query: UsagePageQuery): Promise<UsagePage>;
  /**
   * Registers an agent in one transaction: refused (returns the live record)
   * while an agent of that id is not in a final state; a finished one is replaced.
   */
  claimAgent(agent: AgentRecord): Promise<AgentRecord | undefined>;
  updateAgent(agentId: string, patch: Partial<Omit<AgentRecord, "agent_id">>): Promise<void>;
  getAgent(agentId: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /** Inserts or replaces a run (the whole record: runs are written by the one executor that owns them). */
  saveRun(run: RunRecord): Promise<void>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  listRuns(query: { agentId?: string; limit?: number }): Promise<RunRecord[]>;
  /** Runs as a list shows them, newest first, without reading their conversations. */
  runSummaries(query: RunSummaryQuery): Promise<RunSummary[]>;
  close(): Promise<void>;
}
