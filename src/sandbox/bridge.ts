import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { shellQuote } from "./runner.js";
import { SandboxError, type NetworkExit } from "./types.js";

/**
 * Makes each exit reachable inside a sandbox's network namespace: a socat
 * listening on the sandbox's own 127.0.0.1:port, forwarding to a unix socket on
 * the host. It runs outside the sandbox's pid namespace and filesystem, so the
 * agent can neither see it nor reach anything but that one socket through it.
 * It joins the agent's cgroup first: whatever ends the sandbox's cgroup (its
 * teardown, a takeover finding it dead, `paddock gc`) ends its bridges too.
 */
export async function startBridges(nsPid: number, exits: NetworkExit[], tools: { nsenter: string; socat: string }, dieWithParent: boolean, cgroupProcs: string[]): Promise<ChildProcess[]> {
  const join = cgroupProcs.map((f) => `echo $$ > ${shellQuote(f)}`).join(" && ");
  const bridges = exits.map((exit) => {
    const socat = [tools.socat, "-lf", "/dev/null", `TCP-LISTEN:${exit.port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${exit.socket}`];
    const argv = [
      "--preserve-credentials",
      `--user=/proc/${nsPid}/ns/user`,
      `--net=/proc/${nsPid}/ns/net`,
      "--",
      ...(dieWithParent ? ["setpriv", "--pdeathsig", "KILL", "--"] : []),
      ...socat,
    ];
    return spawn("/bin/sh", ["-c", `${join ? `{ ${join}; } || exit 125; ` : ""}exec "$@"`, "paddock-bridge", tools.nsenter, ...argv], { stdio: ["ignore", "ignore", "inherit"] });
  });
  const deadline = Date.now() + 5000;
  for (const exit of exits) {
    while (!listening(nsPid, exit.port)) {
      if (Date.now() > deadline || bridges.some((b) => b.exitCode !== null)) {
        for (const b of bridges) b.kill("SIGKILL");
        throw new SandboxError("exit_bridge_failed", `could not open the sandbox's exit on 127.0.0.1:${exit.port} to ${exit.socket}`, `exits: ${exit.port}`);
      }
      await sleep(1);
    }
  }
  return bridges;
}

/** Ends the bridges of a sandbox and waits until they are gone. */
export async function stopBridges(bridges: ChildProcess[]): Promise<void> {
  await Promise.all(
    bridges.map((bridge) => {
      if (bridge.exitCode !== null || bridge.signalCode !== null) return undefined;
      const gone = new Promise((resolve) => bridge.once("exit", resolve));
      bridge.kill("SIGKILL");
      return gone;
    }),
  );
}

/** Reads the sandbox's own TCP table (/proc/PID/net/tcp shows the namespace of PID). */
function listening(nsPid: number, port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  try {
    return readFileSync(`/proc/${nsPid}/net/tcp`, "utf8")
      .split("\n")
      .some((line) => {
        const cols = line.trim().split(/\s+/);
        return cols[1] === local && cols[3] === "0A";
      });
  } catch {
    return false;
  }
}
