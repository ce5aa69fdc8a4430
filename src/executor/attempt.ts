import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { Card } from "../card/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { createSandbox, prepareSandbox, type AgentSetup, type ExitReport, type Sandbox } from "../sandbox/index.js";
import type { EgressAttachment } from "../egress/index.js";

/** Where an attempt runs instead of a fresh sandbox on this host: an A2A worker's pod on a cluster. */
export interface AttemptPlace {
  /**
   * Starts the agent (with the task's gateway key; a verification has none) there, its output piped; it reads no
   * input. `timeoutMs` is this side's limit: the place ends it by itself a little later, should this side be gone.
   */
  start(launch: AgentSetup, options: { gatewayKey?: string; timeoutMs: number }): Promise<Sandbox>;
}

export interface AttemptOptions {
  card: Card;
  /** Elsewhere than a fresh sandbox of the card on this host (then `workspace`, `egress`, `paths` do not apply). */
  place?: AttemptPlace;
  launch: AgentSetup;
  workspace?: string;
  egress?: EgressAttachment;
  /** The way to the models; a verification has none. */
  gateway?: { socket: string; key: string };
  paths: PaddockPaths;
  timeoutMs: number;
  inactivityMs: number | null;
  signal?: AbortSignal;
  /** The card may turn the seccomp filter off (the command line said so). */
  allowUnconfinedSeccomp?: boolean;
  onOutput?: (stream: "stdout" | "stderr", text: string) => void;
  /** Subscribes to the gateway's upstream failures for this attempt's key; the first one ends the attempt. */
  watchUpstream?: (onFailure: (message: string) => void) => () => void;
}

export interface AttemptResult {
  stdout: string;
  stderr: string;
  exit: ExitReport;
  /** Why paddock ended it, if it did. */
  ended?: "timeout" | "inactive" | "cancelled" | "upstream";
  /** What the gateway said when no model server answered (ended: "upstream"). */
  upstreamError?: string;
}

/** Output kept per stream: the end of a runaway output is what holds the result. */
const KEEP_BYTES = 4 << 20;

/** Runs the agent (or a verification) once in a fresh sandbox of its card (or its place), with both timeouts ending the whole tree. */
export async function runAttempt(options: AttemptOptions): Promise<AttemptResult> {
  const sandbox = options.place ? await options.place.start(options.launch, { gatewayKey: options.gateway?.key, timeoutMs: options.timeoutMs }) : await startHere(options);
  // Agents read a piped stdin as more prompt: it is closed at once.
  sandbox.stdin?.end();
  let ended: AttemptResult["ended"];
  const end = (why: NonNullable<AttemptResult["ended"]>) => {
    ended ??= why;
    void sandbox.stop(2000);
  };
  let inactivity: NodeJS.Timeout | undefined;
  const arm = () => {
    if (options.inactivityMs === null) return;
    clearTimeout(inactivity);
    inactivity = setTimeout(() => end("inactive"), options.inactivityMs);
  };
  const hard = setTimeout(() => end("timeout"), options.timeoutMs);
  let upstreamError: string | undefined;
  // The gateway knows first: the agent would only retry a server that is not there.
  const unwatch = options.watchUpstream?.((message) => {
    upstreamError ??= message;
    end("upstream");
  });
  const onAbort = () => end("cancelled");
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) onAbort();
  arm();
  const collected = { stdout: "", stderr: "" };
  const collect = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    collected[stream] = (collected[stream] + text).slice(-KEEP_BYTES);
    arm();
    options.onOutput?.(stream, text);
  };
  sandbox.stdout?.on("data", collect("stdout"));
  sandbox.stderr?.on("data", collect("stderr"));
  const exit = await sandbox.wait();
  // The process is gone; what it wrote last may still be in the pipes.
  await Promise.all([sandbox.stdout, sandbox.stderr].map((stream) => stream && !stream.readableEnded && Promise.race([once(stream, "end"), sleep(1000)]).catch(() => undefined)));
  clearTimeout(hard);
  clearTimeout(inactivity);
  options.signal?.removeEventListener("abort", onAbort);
  unwatch?.();
  return { ...collected, exit, ended, ...(ended === "upstream" ? { upstreamError } : {}) };
}

/** A fresh sandbox of the card on this host, running the attempt's launch. */
async function startHere(options: AttemptOptions): Promise<Sandbox> {
  const spec = prepareSandbox(options.card, {
    agent: options.launch,
    workspace: options.workspace,
    egress: options.egress,
    gateway: options.gateway,
    stdio: "pipe",
    paths: options.paths,
    allowUnconfinedSeccomp: options.allowUnconfinedSeccomp,
  });
  const sandbox = createSandbox(spec, options.card.backend);
  await sandbox.start();
  return sandbox;
}
