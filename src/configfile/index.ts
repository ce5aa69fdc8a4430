export { FileError, formatProblem, type FileProblem } from "./problems.js";
export { fieldName, formatOf, issueProblems, locatorFor, parseText, type Format } from "./parse.js";
export { readConfigFile, readText } from "./read.js";
export type { FieldPath, Locator } from "./locate.js";
export { yamlDocuments } from "./write.js";
