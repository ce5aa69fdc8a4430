import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type LogFormat = "human" | "json";

/** `--log-format`'s default: PADDOCK_LOG=json asks for JSON lines on stderr, as daemons write them. */
export function defaultLogFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  return env.PADDOCK_LOG === "json" ? "json" : "human";
}

/**
 * Structured logs of a command people run by hand: JSON lines on stderr when
 * asked for; otherwise appended to a log file, with only warnings and errors
 * shown on stderr as sentences, beside the command's own progress.
 */
export function commandLog(format: LogFormat, file: string): (fields: Record<string, unknown>) => void {
  let fileBroken = false;
  return (fields) => {
    const line = `${JSON.stringify({ time: new Date().toISOString(), level: "info", ...fields })}\n`;
    if (format === "json") return void process.stderr.write(line);
    try {
      mkdirSync(dirname(file), { recursive: true });
      appendFileSync(file, line, { mode: 0o600 });
    } catch (err) {
      if (!fileBroken) process.stderr.write(`paddock: warning: cannot write the log file ${file}: ${(err as Error).message}\n`);
      fileBroken = true;
    }
    const level = String(fields.level ?? "info");
    if (level === "warn" || level === "error") {
      process.stderr.write(`paddock: ${level === "warn" ? "warning" : "error"}: ${String(fields.msg ?? "")}${fields.error ? `: ${String(fields.error)}` : ""}${fields.agent_id ? ` (agent ${String(fields.agent_id)})` : ""}\n`);
    }
  };
}
