export { CardSchema, DEFAULT_TOOLS, cardJsonSchema, type Card, type CardInput, type Mount, type Permission, type ResourceLimits } from "./schema.js";
export { loadCard, type LoadedCard } from "./load.js";
export { CardError, formatProblem, type CardProblem } from "./errors.js";
export { parseHostRule, type HostRule } from "./hosts.js";
