import { ScriptedModel } from "../src/scripted/index.js";

/** The scripted upstream in a process of its own, so a benchmark's load generator does not share its event loop; UPSTREAM_DELAY_MS makes each answer take that long, as a model's decoding does. */
const delayMs = Number(process.env.UPSTREAM_DELAY_MS ?? 0);
const model = await new ScriptedModel({ model: "bench", maxModelLen: 131072, script: [{ content: "ok", repeat: true, delayMs }] }).listen();
process.stdout.write(`${model.port}\n`);
