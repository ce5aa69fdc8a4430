import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The proxy's Prometheus metrics, in a registry of its own so several proxies (and tests) do not collide. */
export class EgressMetrics {
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: "paddock_egress_decisions_total",
    help: "Egress decisions by agent, kind (http, connect), decision and reason",
    labelNames: ["agent", "kind", "decision", "reason"] as const,
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: "paddock_egress_bytes_total",
    help: "Bytes relayed, by agent and direction (up: agent to origin)",
    labelNames: ["agent", "direction"] as const,
    registers: [this.registry],
  });
  readonly activeTunnels = new Gauge({
    name: "paddock_egress_active_tunnels",
    help: "CONNECT tunnels open now",
    labelNames: ["agent"] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "paddock_egress_request_duration_seconds",
    help: "From request to the end of the response (http) or of the tunnel (connect)",
    labelNames: ["kind"] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
    registers: [this.registry],
  });

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
