export { CardSchema, DEFAULT_TOOLS, cardBudget, cardJsonSchema, cardWarnings, normalCache, type Card, type CardInput, type Mount, type Permission, type ResourceLimits } from "./schema.js";
export { loadCard, type CardFinding, type LoadedCard, type LoadOptions } from "./load.js";
export { CardError, type CardProblem } from "./errors.js";
export { formatProblem } from "../configfile/index.js";
export { parseHostRule, type HostRule } from "./hosts.js";
export { CredentialSchema, credentialName, uncoveredCredentials, type Credential } from "./credentials.js";
