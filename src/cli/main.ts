#!/usr/bin/env node
import { Command } from "commander";
import { EXIT } from "./fail.js";
import { PADDOCK_VERSION } from "./version.js";

type Register = (program: Command) => void;

/**
 * Each module with the top-level commands it registers, loaded only when one
 * of them runs: a command's imports (zod schemas, the gateway, the MCP SDK)
 * cost tens of milliseconds each, and `paddock exec` should pay only for its
 * own. Help and unknown commands load them all, so the listing stays whole.
 */
const MODULES: Array<[string[], () => Promise<Register>]> = [
  [["up"], () => import("./up.js").then((m) => m.registerUp)],
  [["spawn", "list", "status", "stop", "attach", "logs"], () => import("./agents.js").then((m) => m.registerAgents)],
  [["card"], () => import("./card.js").then((m) => m.registerCard)],
  [["exec"], () => import("./exec.js").then((m) => m.registerExec)],
  [["run", "runs"], () => import("./run.js").then((m) => m.registerRun)],
  [["eval"], () => import("./eval.js").then((m) => m.registerEval)],
  [["doctor"], () => import("./doctor.js").then((m) => m.registerDoctor)],
  [["captain"], () => import("./captain.js").then((m) => m.registerCaptain)],
  [["mcp"], () => import("./mcp.js").then((m) => m.registerMcp)],
  [["egress"], () => import("./egress.js").then((m) => m.registerEgress)],
  [["gateway"], () => import("./gateway.js").then((m) => m.registerGateway)],
  [["systemd"], () => import("./systemd.js").then((m) => m.registerSystemd)],
  [["seccomp"], () => import("./seccomp.js").then((m) => m.registerSeccomp)],
  [["gc"], () => import("./gc.js").then((m) => m.registerGc)],
  [["keys"], () => import("./keys.js").then((m) => m.registerKeys)],
  [["usage"], () => import("./usage.js").then((m) => m.registerUsage)],
  [["kube"], () => import("./kube.js").then((m) => m.registerKube)],
];

const program = new Command("paddock")
  .description("Run AI coding agents on your own hardware, each in a sandbox whose only exits paddock owns.")
  .version(PADDOCK_VERSION)
  .showHelpAfterError()
  // A command's options after its subcommand are the subcommand's (`runs compare --json`).
  .enablePositionalOptions()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  });

// Output piped into `head` and the like: the reader is gone, nothing more to say.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(EXIT.ok);
  throw err;
});

const first = process.argv[2] ?? "";
const named = MODULES.filter(([names]) => names.includes(first));
const wanted = named.length > 0 || first === "-V" || first === "--version" ? named : MODULES;
for (const register of await Promise.all(wanted.map(([, load]) => load()))) register(program);

await program.parseAsync(process.argv);
