export { FileError, formatProblem, type FileProblem } from "./problems.js";
export { fieldName, formatOf, issueProblems, locatorFor, parseText, type Format } from "./parse.js";
export { readConfigFile, readText } from "./read.js";
export type { FieldPath, Locator } from "./locate.js";

/** Documents as one YAML stream (`---` between them), for files paddock writes (Kubernetes manifests). */
export async function yamlDocuments(documents: unknown[]): Promise<string> {
  const { stringify } = await import("./yaml.js");
  return documents.map((d) => stringify(d, { lineWidth: 0 })).join("---\n");
}
