export { ScriptedModel, type RequestLog, type ScriptedModelOptions, type ScriptedTurn } from "./server.js";
export { countChat, countText } from "./tokenizer.js";
export { SMOKE_MODEL, smokeTestScript } from "./smoke.js";
