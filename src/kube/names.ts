export const NAMESPACES = { models: "paddock-models", agents: "paddock-agents", system: "paddock-system" } as const;

/** Where paddock's parts listen in the cluster (the gateway's is LiteLLM's, the proxy's squid's). */
export const PORTS = { gateway: 4000, egress: 3128, egressMetrics: 9128, controller: 7400 } as const;
