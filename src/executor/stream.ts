import { ContractSchema, type Contract } from "./contract.js";

/** A line of Claude Code's stream-json longer than this is not parsed (its text is cut in the transcript). */
const MAX_LINE_BYTES = 4 << 20;
/** How much of a tool's input or an error the transcript shows. */
const SHOWN_CHARS = 300;

type Block = { type?: string; text?: string; name?: string; input?: unknown; content?: unknown; is_error?: boolean };
type Line = { type?: string; subtype?: string; is_error?: boolean; message?: { content?: Block[] | string }; result?: string; structured_output?: unknown; errors?: unknown };

function shown(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "";
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}...` : text;
}

/** One line of stream-json as people read it: the agent's text, its tool calls, its tools' failures; the rest says nothing. */
function readable(line: string): string {
  if (line.trim() === "") return "";
  let event: Line;
  try {
    event = line.length > MAX_LINE_BYTES ? {} : (JSON.parse(line) as Line);
  } catch {
    return `${line}\n`;
  }
  if (typeof event !== "object" || event === null) return "";
  const blocks = Array.isArray(event.message?.content) ? event.message.content : [];
  if (event.type === "assistant") {
    return blocks.map((b) => (b.type === "text" && typeof b.text === "string" ? `${b.text}\n` : b.type === "tool_use" ? `→ ${String(b.name)} ${shown(b.input)}\n` : "")).join("");
  }
  if (event.type === "user") return blocks.map((b) => (b.type === "tool_result" && b.is_error ? `  ✗ ${shown(b.content)}\n` : "")).join("");
  // A failed run's result says why (an API error, too many turns): the failure diagnosis reads it here.
  if (event.type === "result" && (event.subtype !== "success" || event.is_error)) return `(Claude Code ended: ${String(event.subtype)}${event.errors ? ` ${shown(event.errors)}` : ""})\n${typeof event.result === "string" ? `${event.result}\n` : ""}`;
  return "";
}

/** Turns stream-json arriving in chunks into readable text, line by line (a partial line waits for its end). */
export class StreamJsonProgress {
  private partial = "";

  push(chunk: string): string {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop()!;
    if (this.partial.length > MAX_LINE_BYTES) this.partial = "";
    return lines.map(readable).join("");
  }
}

/**
 * What a Claude Code run with --json-schema produced: its transcript (readable), and the contract from the final
 * result's `structured_output` (which Claude Code checked against the schema), when it is one.
 */
export function readStreamResult(stdout: string): { transcript: string; contract?: Contract } {
  const lines = stdout.split("\n");
  let contract: Contract | undefined;
  for (const line of lines.slice().reverse()) {
    if (line.length > MAX_LINE_BYTES || !line.startsWith("{")) continue;
    try {
      const event = JSON.parse(line) as Line;
      if (event.type !== "result") continue;
      const parsed = ContractSchema.safeParse(event.structured_output);
      if (parsed.success) contract = parsed.data;
      break;
    } catch {
      continue;
    }
  }
  const transcript = lines.map(readable).join("");
  return { transcript: contract ? `${transcript}\`\`\`json\n${JSON.stringify(contract)}\n\`\`\`\n` : transcript, ...(contract ? { contract } : {}) };
}
