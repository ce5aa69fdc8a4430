export { Executor, type ExecutorOptions, type TaskEvent, type TaskPlace, type TaskRequest } from "./executor.js";
export { ExecutorSettingsSchema, type ExecutorSettings } from "./settings.js";
export { ContractSchema, parseContract, type Contract } from "./contract.js";
export { readStreamResult } from "./stream.js";
export { diagnose, FATAL_CATEGORIES, type Diagnosis, type FailureCategory } from "./classify.js";
