import { A2A_PROTOCOL_VERSION, type AgentCard, type Part } from "@a2a-js/sdk";
import type { Card } from "../card/index.js";

/** The security scheme every paddock worker declares: a bearer token minted for that worker. */
export const BEARER_SCHEME = "paddockBearer";

/** The A2A agent card of a paddock agent, served at the spec's well-known path. */
export function workerAgentCard(card: Card, url: string): AgentCard {
  const what = card.kind === "command" ? `the command ${JSON.stringify((card.command ?? []).join(" "))}` : card.kind === "opencode" ? "OpenCode" : "Claude Code";
  return {
    name: card.agent_id,
    description: `A paddock worker: ${what} in a sandbox, on its workspace, reaching only paddock's LLM gateway${card.allowed_hosts.length ? ` and ${card.allowed_hosts.join(", ")}` : ""}. Each task runs headless and ends with a contract: COMPLETE, NEEDS_INFO (input required) or ERROR, with the changed files as artifacts.`,
    // The same endpoint speaks 1.0 and 0.3 (chosen per request by the A2A-Version header; the SDK matches "0.3" as a
    // request without one names it).
    supportedInterfaces: [
      { url, protocolBinding: "JSONRPC", tenant: "", protocolVersion: A2A_PROTOCOL_VERSION },
      { url, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "0.3" },
    ],
    provider: { organization: "paddock", url: "https://paddock.invalid" },
    version: "1.0.0",
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: { [BEARER_SCHEME]: { scheme: { $case: "httpAuthSecurityScheme", value: { scheme: "Bearer", bearerFormat: "opaque", description: "The token paddock minted for this worker" } } } },
    securityRequirements: [{ schemes: { [BEARER_SCHEME]: { list: [] } } }],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain", "text/x-diff", "application/octet-stream"],
    skills: [
      {
        id: "coding-task",
        name: "Coding task",
        description: `Do a coding task on the workspace with ${what}; reports the outcome, a summary, and the files it changed.`,
        tags: ["coding", card.kind],
        examples: ["Add a unit test for the parser", "Fix the failing build"],
        inputModes: ["text/plain"],
        outputModes: ["text/plain", "text/x-diff", "application/octet-stream"],
        securityRequirements: [],
      },
    ],
    signatures: [],
  };
}

export function textPart(text: string, mediaType = "text/plain"): Part {
  return { content: { $case: "text", value: text }, metadata: undefined, filename: "", mediaType };
}

export function filePart(filename: string, bytes: Buffer, mediaType = "application/octet-stream"): Part {
  return { content: { $case: "raw", value: bytes }, metadata: undefined, filename, mediaType };
}

/** The text of a message's text parts. */
export function messageText(parts: Part[]): string {
  return parts.map((p) => (p.content?.$case === "text" ? p.content.value : "")).filter(Boolean).join("\n");
}
