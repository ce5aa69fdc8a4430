import { z } from "zod";

/** The result every task ends with, whatever the agent: what happened, in a sentence, and what is missing when it needs more. */
export const ContractSchema = z.looseObject({
  outcome: z.enum(["COMPLETE", "NEEDS_INFO", "ERROR"]),
  summary: z.string(),
  /** What the agent needs to go on (NEEDS_INFO). */
  questions: z.array(z.string()).optional(),
  details: z.string().optional(),
});

export type Contract = z.infer<typeof ContractSchema>;

/**
 * The contract as a JSON Schema (draft-07, as Claude Code's validator reads it), for an agent that enforces its
 * result on the wire: a role's sections are required, non-empty strings of a "sections" object.
 */
export function contractJsonSchema(sections: readonly string[] = []): Record<string, unknown> {
  const named = sections.length ? { sections: z.strictObject(Object.fromEntries(sections.map((name) => [name, z.string().min(1)]))) } : {};
  const schema = z.strictObject({
    outcome: ContractSchema.shape.outcome.describe("COMPLETE: the task is done; NEEDS_INFO: you cannot go on without answers; ERROR: it failed"),
    summary: z.string().min(1).describe("One or two sentences: what you did, or why not"),
    questions: z.array(z.string()).optional().describe("Only for NEEDS_INFO: what you need to know"),
    ...named,
  });
  return z.toJSONSchema(schema, { target: "draft-7" }) as Record<string, unknown>;
}

/** The contract's shape as the agent is told it; a role's sections are named keys of a "sections" object. */
function shape(sections: readonly string[]): string {
  const named = sections.length ? `, "sections": {${sections.map((n) => `${JSON.stringify(n)}: "<...>"`).join(", ")}}` : "";
  return `{"outcome": "COMPLETE" | "NEEDS_INFO" | "ERROR", "summary": "<one or two sentences: what you did or why not>", "questions": ["<only for NEEDS_INFO: what you need to know>"]${named}}`;
}

/** The instruction appended to every task's prompt. */
export function contractInstruction(sections: readonly string[] = []): string {
  return `\n\nWhen you are done, end your reply with this JSON object, alone in a \`\`\`json fenced block:\n${shape(sections)}`;
}

/** The instruction of a retry, after a reply without a readable (or complete) result. */
export function stricterInstruction(sections: readonly string[] = []): string {
  return `\n\nIMPORTANT: your previous reply did not end with the required JSON result${sections.length ? ` (with every one of its sections: ${sections.join(", ")})` : ""}. Do the task, then make the very last thing you print exactly one \`\`\`json fenced block containing only:\n${shape(sections)}\nNo text after it.`;
}

/** The sections a COMPLETE contract lacks (absent, or not a non-empty string), of those a role requires. */
export function missingSections(contract: Contract, sections: readonly string[]): string[] {
  if (contract.outcome !== "COMPLETE") return [];
  const given = typeof contract.sections === "object" && contract.sections !== null ? (contract.sections as Record<string, unknown>) : {};
  return sections.filter((name) => typeof given[name] !== "string" || (given[name] as string).trim() === "");
}

/**
 * Finds the contract in an agent's output, trying in turn: fenced ```json
 * blocks (the last valid one), the whole output as JSON, and the last
 * balanced {...} object in the text. Undefined when none is a valid contract.
 */
export function parseContract(output: string): Contract | undefined {
  const fenced = [...output.matchAll(/```(?:json|JSON)?[ \t]*\r?\n([\s\S]*?)\r?\n?```/g)].map((m) => m[1]!);
  for (const candidate of [...fenced.reverse(), output.trim(), ...balancedObjects(output)]) {
    const contract = tryContract(candidate);
    if (contract) return contract;
  }
  return undefined;
}

function tryContract(text: string): Contract | undefined {
  try {
    const parsed = ContractSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Balanced top-level {...} spans, last first (strings and escapes respected). */
function balancedObjects(text: string): string[] {
  const spans: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"' && depth > 0) inString = true;
    else if (c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "}" && depth > 0 && --depth === 0) spans.push(text.slice(start, i + 1));
  }
  return spans.reverse();
}
