import { createReadStream, existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { FINAL_STATES } from "../store/index.js";
import type { Supervisor } from "./supervisor.js";

export interface LogFollow {
  follow: boolean;
  /** Start this many lines before the end (0: the whole file). */
  tail: number;
  /** Start at the first line written at or after this time (ms). */
  since?: number;
  /** Stop following when this says so (the reader went away). */
  closed: () => boolean;
}

/** An agent's log file from the chosen place, then (with follow) what the agent writes next, until it ends. */
export async function followLog(supervisor: Supervisor, id: string, options: LogFollow, write: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  const agent = await supervisor.status(id);
  const size = () => (existsSync(agent.log_path) ? statSync(agent.log_path).size : 0);
  let offset = options.since !== undefined ? supervisor.logOffsetAt(id, options.since) : options.tail > 0 ? await tailOffset(agent.log_path, options.tail) : 0;
  for (;;) {
    const end = size();
    if (end < offset) offset = 0; // rotated under us
    if (end > offset) {
      for await (const chunk of createReadStream(agent.log_path, { start: offset, end: end - 1 })) await write(chunk as Buffer);
      offset = end;
    }
    const now = await supervisor.status(id);
    if (!options.follow || options.closed() || FINAL_STATES.includes(now.state)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Writes a chunk to a response, waiting while the reader is behind (or until it goes away). */
export function writeWithBackpressure(res: ServerResponse, chunk: Buffer | string): Promise<void> | undefined {
  if (res.write(chunk) || res.destroyed) return undefined;
  return new Promise((resolve) => {
    const done = () => (res.off("drain", done), res.off("close", done), resolve());
    res.on("drain", done).on("close", done);
  });
}

async function tailOffset(file: string, lines: number): Promise<number> {
  if (!existsSync(file)) return 0;
  const text = await readFile(file);
  let offset = text.length;
  for (let seen = 0; offset > 0; offset--) if (text[offset - 1] === 10 && offset !== text.length && ++seen === lines) break;
  return offset;
}
