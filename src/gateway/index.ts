export { Gateway } from "./server.js";
export { GatewayConfigSchema, loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from "./config.js";
export { hashKey } from "./keys.js";
