import { gatewayChat } from "../gateway/index.js";
import { parseContract, type Contract } from "./contract.js";

const INSTRUCTION = `Below is the narrative an agent wrote while doing a task. Extract ONLY a JSON object that states how the task ended:
{"outcome": "COMPLETE" | "NEEDS_INFO" | "ERROR", "summary": "<faithful one or two sentence summary of the narrative; invent nothing>", "questions": ["<for NEEDS_INFO only>"]}
Answer with the JSON object and nothing else.`;

/**
 * The one-shot recovery for an agent that did the work but did not end with
 * the contract: one call to a model, without tools, through the gateway's
 * socket with the run's key, that extracts the contract from the narrative.
 */
export async function structure(options: { socket: string; key: string; model: string; narrative: string; timeoutMs: number }): Promise<{ contract?: Contract; reply: string }> {
  // The end of a long narrative is where the outcome is.
  const narrative = options.narrative.length > 60_000 ? options.narrative.slice(-60_000) : options.narrative;
  const body = {
    model: options.model,
    temperature: 0,
    max_tokens: 1024,
    response_format: { type: "json_object" },
    messages: [
      { role: "system", content: INSTRUCTION },
      { role: "user", content: `<narrative>\n${narrative}\n</narrative>` },
    ],
  };
  let reply: string;
  try {
    reply = await gatewayChat({ socket: options.socket, key: options.key, body, timeoutMs: options.timeoutMs });
  } catch (err) {
    return { reply: `structurer: ${(err as Error).message}` };
  }
  return { contract: parseContract(reply), reply };
}
