import type { Card } from "../card/index.js";
import { contractInstruction, contractJsonSchema, parseContract, stricterInstruction, type Contract } from "./contract.js";
import { readStreamResult, StreamJsonProgress } from "./stream.js";

/** How a task's result is asked for and read, by the card's `contract`. */
export interface ResultMode {
  /** The prompt of attempt `attempt` (1, 2, ...). */
  prompt(task: string, attempt: number): string;
  /** The schema the agent enforces itself (schema mode). */
  resultSchema?: Record<string, unknown>;
  /** A new attempt's progress: stdout chunks in, readable text out. */
  progress(): (chunk: string) => string;
  /** The attempt's output as a readable transcript, and the contract in it. */
  read(stdout: string): { transcript: string; contract?: Contract };
}

/**
 * prompt: the contract is asked for in the prompt and found in the output. schema: Claude Code's --json-schema makes
 * the result a StructuredOutput tool call that Claude Code checks against the contract's schema (asking the model
 * again when it does not match), read from the stream-json result; the prompt says nothing of it.
 */
export function resultMode(contract: Card["contract"], sections: readonly string[]): ResultMode {
  if (contract === "schema") {
    return {
      prompt: (task, attempt) => (attempt === 1 ? task : `${task}\n\nIMPORTANT: your previous run ended without a result. Do the task, then give the result with the StructuredOutput tool.`),
      resultSchema: contractJsonSchema(sections),
      progress: () => {
        const lines = new StreamJsonProgress();
        return (chunk) => lines.push(chunk);
      },
      read: readStreamResult,
    };
  }
  return {
    prompt: (task, attempt) => `${task}${attempt === 1 ? contractInstruction(sections) : stricterInstruction(sections)}`,
    progress: () => (chunk) => chunk,
    read: (stdout) => ({ transcript: stdout, contract: parseContract(stdout) }),
  };
}
