export { Supervisor, type AgentView, type GatewayAccess, type SupervisorOptions } from "./supervisor.js";
export { SupervisorApi } from "./api.js";
export { callDaemon, daemonSocket } from "./client.js";
