export { startWorkerServer, type WorkerServer } from "./server.js";
export { workerClient } from "./client.js";
export { workerAgentCard, textPart, messageText, BEARER_SCHEME } from "./card.js";
export { A2AWorkers } from "./workers.js";
