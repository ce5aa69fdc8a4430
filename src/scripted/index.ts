export { ScriptedModel, type RequestLog, type ScriptedModelOptions, type ScriptedTurn } from "./server.js";
export { countChat, countText } from "./tokenizer.js";
