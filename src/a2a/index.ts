export { startWorkerServer, type WorkerServer } from "./server.js";
export { sendTask, workerClient, type TaskOutcome } from "./client.js";
export { workerAgentCard, textPart, messageText, BEARER_SCHEME } from "./card.js";
export { A2AWorkers } from "./workers.js";
