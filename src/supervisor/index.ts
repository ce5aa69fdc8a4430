export { Supervisor, type AgentView, type SupervisorOptions, agentModels } from "./supervisor.js";
export { SupervisorApi } from "./api.js";
export { callDaemon, daemonSocket } from "./client.js";
