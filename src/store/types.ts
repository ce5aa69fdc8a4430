import type { EgressQuery, EgressRecord } from "./records.js";

/** paddock's persistence; async so that a networked database fits behind the same interface. */
export interface Store {
  recordEgress(records: EgressRecord[]): Promise<void>;
  egressLog(query: EgressQuery): Promise<EgressRecord[]>;
  close(): Promise<void>;
}
