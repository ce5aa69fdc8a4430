/**
 * What a warm pod runs until an agent claims it (the agent images hold it at /opt/paddock/lib/kube/warm-start.js).
 * It makes a key pair and prints the public half as its first line of output, which the controller reads through the
 * API (pods/log: only this process writes there). Once claimed, the controller seals the agent's launch (argv,
 * environment with its gateway key and egress token, HOME files) to that key in an annotation; the kubelet projects
 * it into a file (downward API); this process opens it, writes the HOME files and runs the agent, passing signals
 * on and exiting with its status. A launch sealed to another pod cannot be opened here.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { exitStatus, parseLaunch, writeHomeFiles, type Launch } from "./launch.js";
import { open, warmKeys, WARM_KEY_LINE } from "./seal.js";

const POLL_MS = 100;
const launchFile = process.env.PADDOCK_LAUNCH_FILE ?? "/etc/paddock/launch/sealed";
const home = process.env.HOME ?? "/home/agent";

function fail(message: string): never {
  process.stderr.write(`paddock-warm: ${message}\n`);
  process.exit(125);
}

function readSealed(): string {
  try {
    return readFileSync(launchFile, "utf8").trim();
  } catch {
    return "";
  }
}

const keys = warmKeys();
process.stdout.write(`${WARM_KEY_LINE}${keys.publicKey}\n`);
let agent: ReturnType<typeof spawn> | undefined;
// As a container's first process this has no default action for signals: a pool shrinking (or a stop) ends it at once,
// and once the agent runs, the signal is the agent's.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => (agent ? agent.kill(signal) : process.exit(exitStatus(null, signal))));
const idle = setInterval(() => {
  const sealed = readSealed();
  if (!sealed) return;
  clearInterval(idle);
  let launch: Launch;
  try {
    launch = parseLaunch(open(keys, sealed));
  } catch (err) {
    fail(`the launch cannot be opened with this pod's key (${(err as Error).message}): it was sealed for another pod, or changed on the way`);
  }
  try {
    writeHomeFiles(home, launch.files);
  } catch (err) {
    fail((err as Error).message);
  }
  const env = { ...process.env, ...launch.env };
  delete env.PADDOCK_LAUNCH_FILE;
  agent = spawn(launch.argv[0]!, launch.argv.slice(1), { env, stdio: "inherit" });
  agent.on("error", (err) => fail(`${launch.argv[0]}: ${err.message}`));
  agent.on("exit", (code, signal) => process.exit(exitStatus(code, signal)));
}, POLL_MS);
