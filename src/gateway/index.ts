export { Gateway } from "./server.js";
export { GatewayConfigSchema, loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from "./config.js";
export { durationMs, hashKey } from "./keys.js";
export { gatewayAccess, type AgentGatewayAccess, type ModelLimits } from "./access.js";
export { gatewayChat } from "./client.js";
export { probeUpstream, type UpstreamFacts } from "./probe.js";
export { adminCall, DEFAULT_GATEWAY_URL, findMasterKey, type AdminTarget } from "./admin.js";
