import type { Store, UsageRecord } from "../store/index.js";
import { Counter, Histogram, Registry } from "prom-client";

/** Usage rows written in batches (one transaction per flush), so billing never sits on a request's path. */
export class UsageSink {
  private pending: UsageRecord[] = [];
  /** Batches on their way to the store. */
  private readonly inFlight = new Set<UsageRecord[]>();
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store) {}

  record(row: UsageRecord): void {
    this.pending.push(row);
    this.timer ??= setTimeout(() => void this.flush(), 50);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.pending;
    this.pending = [];
    if (rows.length > 0) {
      this.inFlight.add(rows);
      this.writing = this.writing
        .then(() => this.store.recordUsage(rows))
        .catch((err: Error) => {
          process.stderr.write(`${JSON.stringify({ level: "error", msg: "usage not stored", error: err.message, lost: rows.length })}\n`);
        })
        .finally(() => this.inFlight.delete(rows));
    }
    return this.writing;
  }

  /** What this gateway has billed that the store does not hold yet (a key's, or an agent's): budgets count it too. */
  unstored(match: { tokenHash?: string; agentId?: string }): { tokens: number; cost: number } {
    let tokens = 0;
    let cost = 0;
    for (const row of [...this.pending, ...[...this.inFlight].flat()]) {
      if ((match.tokenHash && row.token_hash !== match.tokenHash) || (match.agentId && row.agent_id !== match.agentId)) continue;
      tokens += row.input_tokens + row.output_tokens;
      cost += row.cost;
    }
    return { tokens, cost };
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "paddock_gateway_requests_total", help: "Requests by model and HTTP status", labelNames: ["model", "status"] as const, registers: [this.registry] });
  readonly tokens = new Counter({ name: "paddock_gateway_tokens_total", help: "Tokens by model and direction (input, output)", labelNames: ["model", "direction"] as const, registers: [this.registry] });
  readonly capped = new Counter({ name: "paddock_gateway_max_tokens_capped_total", help: "Requests whose max_tokens was lowered to fit the context window", labelNames: ["model"] as const, registers: [this.registry] });
  readonly latency = new Histogram({ name: "paddock_gateway_request_duration_seconds", help: "Request to last byte", labelNames: ["model"] as const, buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300], registers: [this.registry] });
  readonly ttfb = new Histogram({ name: "paddock_gateway_time_to_first_byte_seconds", help: "Request to the first byte of a streamed answer", labelNames: ["model"] as const, buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15], registers: [this.registry] });
}
