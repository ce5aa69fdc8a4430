import { request } from "node:http";
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
  const body = JSON.stringify({
    model: options.model,
    temperature: 0,
    max_tokens: 1024,
    response_format: { type: "json_object" },
    messages: [
      { role: "system", content: INSTRUCTION },
      { role: "user", content: `<narrative>\n${narrative}\n</narrative>` },
    ],
  });
  const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { socketPath: options.socket, path: "/v1/chat/completions", method: "POST", timeout: options.timeoutMs, headers: { "content-type": "application/json", authorization: `Bearer ${options.key}`, "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`the structurer took more than ${options.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
  if (response.status !== 200) return { reply: `structurer: HTTP ${response.status}: ${response.text.slice(0, 500)}` };
  const reply = String((JSON.parse(response.text) as { choices?: Array<{ message?: { content?: string } }> }).choices?.[0]?.message?.content ?? "");
  return { contract: parseContract(reply), reply };
}
