export { EgressProxy, type CredentialHandling, type EgressProxyOptions } from "./proxy.js";
export { AgentCredentials, CredentialError, placeholderEnvironment } from "./credentials.js";
export { AuditSink } from "./audit.js";
export { EgressMetrics } from "./metrics.js";
export { systemResolver, type Resolver } from "./resolver.js";
export { forbiddenRange } from "./addresses.js";
export { DEFAULT_LIMITS, type EgressLimits } from "./types.js";
export { EgressService, type EgressAttachment, type EgressPolicy } from "./service.js";
export { upstreamTrust } from "./trust.js";
export { EgressConfigSchema, type EgressConfig } from "./config.js";
export type { AgentCa, CaMaterial } from "./ca.js";

/** A new CA for one agent; certificate generation is loaded only when one is made. */
export async function createAgentCa(agentId: string): Promise<import("./ca.js").AgentCa> {
  const { AgentCa } = await import("./ca.js");
  return AgentCa.create(agentId);
}
