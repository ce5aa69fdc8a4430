// yaml is CommonJS: imported statically here and this module imported lazily,
// its named exports survive both Node's loader and the CLI bundle (a dynamic
// import of CommonJS there yields only its default export).
export { parse, stringify, YAMLParseError } from "yaml";
