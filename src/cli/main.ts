#!/usr/bin/env node
import { Command } from "commander";
import { registerAgents } from "./agents.js";
import { registerCaptain } from "./captain.js";
import { registerCard } from "./card.js";
import { registerDoctor } from "./doctor.js";
import { registerEgress } from "./egress.js";
import { registerExec } from "./exec.js";
import { registerGateway } from "./gateway.js";
import { registerGc } from "./gc.js";
import { registerSeccomp } from "./seccomp.js";
import { registerSystemd } from "./systemd.js";
import { registerMcp } from "./mcp.js";
import { registerRun } from "./run.js";
import { registerUp } from "./up.js";
import { EXIT } from "./fail.js";

const program = new Command("paddock")
  .description("Run AI coding agents on your own hardware, each in a sandbox whose only exits paddock owns.")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  });

// Output piped into `head` and the like: the reader is gone, nothing more to say.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(EXIT.ok);
  throw err;
});

registerUp(program);
registerAgents(program);
registerCard(program);
registerExec(program);
registerRun(program);
registerDoctor(program);
registerCaptain(program);
registerMcp(program);
registerEgress(program);
registerGateway(program);
registerSystemd(program);
registerSeccomp(program);
registerGc(program);

await program.parseAsync(process.argv);
