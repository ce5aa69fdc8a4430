import { BwrapSandbox } from "./bwrap.js";
import { GvisorSandbox } from "./gvisor.js";
import type { BackendName, Sandbox, SandboxSpec } from "./types.js";

export { prepareSandbox, type AgentSetup, type PrepareOptions } from "./prepare.js";
export { enterSandbox } from "./enter.js";
export { removeAgentState, toolPathInside } from "./layout.js";
export { adoptSandbox, processStart, recordedExitCode, type AdoptionRecord } from "./adopt.js";
export { ToolError } from "./tools.js";
export { cardHostProblems } from "./check.js";
export { runscProblem } from "./runsc-check.js";
export { BUNDLES } from "./catalog.js";
export { BWRAP, IP, RUNSC, SOCAT, NSENTER, hostProgram, userNamespaceProblem } from "./host.js";
export { EXIT_STATUS, exitStatus, SandboxError } from "./types.js";
export type { BackendName, ExitCause, ExitReport, NetworkExit, Sandbox, SandboxSpec, SandboxStats } from "./types.js";

/** A sandbox for the spec on the given backend; nothing runs until `start()`. */
export function createSandbox(spec: SandboxSpec, backend: BackendName = "bwrap"): Sandbox {
  return backend === "gvisor" ? new GvisorSandbox(spec) : new BwrapSandbox(spec);
}
