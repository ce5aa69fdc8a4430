export { Supervisor, type AgentView, type PodBackend, type SupervisorOptions, agentModels } from "./supervisor.js";
export { SupervisorApi, type DaemonRoles, type Planner, type WorkerEndpoints } from "./api.js";
export { callDaemon, daemonApi, daemonSocket, type DaemonApi } from "./client.js";
export { followLog, writeWithBackpressure, type LogFollow } from "./logs.js";
export type { StoredCard, StoredRole } from "./stored.js";
export { daemonNamePrefix, describeLeftovers, findLeftovers, removeLeftovers, type Leftovers } from "./leftovers.js";
