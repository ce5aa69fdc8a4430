import type { Card } from "../card/index.js";
import type { PaddockPaths } from "../paths/index.js";
import type { RunRecord } from "../store/index.js";
import { runAttempt, type AttemptPlace } from "./attempt.js";

export type Verification = NonNullable<RunRecord["verifications"]>[number];

/** What of a verification's output a run keeps, and gives back to the agent on a retry. */
const TAIL_CHARS = 4000;

/**
 * Runs a task's verification (`npm test`) once the agent has reported COMPLETE: in a fresh sandbox of the same card
 * (its tools, limits, workspace and HOME) with no way to the models and no network at all, through `sh -c`; or in
 * the task's place, with no gateway key and no egress token.
 */
export async function verifyTask(options: { card: Card; place?: AttemptPlace; command: string; workspace?: string; paths: PaddockPaths; timeoutMs: number; signal?: AbortSignal; allowUnconfinedSeccomp?: boolean }): Promise<Verification> {
  const result = await runAttempt({
    card: options.card,
    place: options.place,
    launch: { command: ["sh", "-c", options.command], env: {}, tools: ["sh"], homeFiles: {} },
    workspace: options.workspace,
    paths: options.paths,
    timeoutMs: options.timeoutMs,
    inactivityMs: null,
    signal: options.signal,
    allowUnconfinedSeccomp: options.allowUnconfinedSeccomp,
  });
  const output = `${result.stdout}${result.stderr ? `${result.stdout.endsWith("\n") || !result.stdout ? "" : "\n"}${result.stderr}` : ""}`;
  const code = result.exit.code;
  return {
    command: options.command,
    passed: code === 0 && !result.ended,
    exit_code: code,
    output_tail: output.length > TAIL_CHARS ? `…${output.slice(-TAIL_CHARS)}` : output,
    duration_ms: Math.round(result.exit.durationMs),
    timed_out: result.ended === "timeout",
  };
}

/** The prompt of an attempt after a failed verification: the task again, with what the verification printed. */
export function afterFailedVerification(prompt: string, verification: Verification): string {
  return `${prompt}\n\nYour previous attempt reported COMPLETE, but its verification failed: \`${verification.command}\` ${verification.timed_out ? "ran out of time" : `exited with ${verification.exit_code ?? "a signal"}`}. Its output ends with:\n\n${verification.output_tail}\n\nFix the cause, then report the result again.`;
}
