import { ScriptedModel } from "../src/scripted/index.js";

/** The scripted upstream in a process of its own, so a benchmark's load generator does not share its event loop. */
const model = await new ScriptedModel({ model: "bench", maxModelLen: 131072, script: [{ content: "ok", repeat: true }] }).listen();
process.stdout.write(`${model.port}\n`);
