export { CardSchema, DEFAULT_TOOLS, cardJsonSchema, cardWarnings, type Card, type CardInput, type Mount, type Permission, type ResourceLimits } from "./schema.js";
export { loadCard, type CardFinding, type LoadedCard, type LoadOptions } from "./load.js";
export { CardError, formatProblem, type CardProblem } from "./errors.js";
export { parseHostRule, type HostRule } from "./hosts.js";
