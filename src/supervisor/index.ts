export { Supervisor, type AgentView, type SupervisorOptions } from "./supervisor.js";
