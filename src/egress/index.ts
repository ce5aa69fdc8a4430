export { EgressProxy, type EgressProxyOptions } from "./proxy.js";
export { AuditSink } from "./audit.js";
export { EgressMetrics } from "./metrics.js";
export { systemResolver, type Resolver } from "./resolver.js";
export { forbiddenRange } from "./addresses.js";
export { DEFAULT_LIMITS, type EgressLimits } from "./types.js";
export { EgressService } from "./service.js";
export { EgressConfigSchema, type EgressConfig } from "./config.js";
