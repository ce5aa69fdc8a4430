import { LineCounter, parseDocument, isMap, isSeq, type Node } from "yaml";

export type FieldPath = ReadonlyArray<string | number>;
export type Locator = (path: FieldPath) => { line: number; column: number } | undefined;

/** Finds where a field stands in YAML or JSON text (JSON is read as YAML 1.2 for positions only). */
export function yamlLocator(text: string): Locator {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: false });
  return (path) => {
    let node: unknown = doc.contents;
    let found: Node | undefined = doc.contents ?? undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
        if (!pair) break;
        // Point at the key: it names the field, and an unknown field has nothing else to point at.
        found = (pair.key as Node) ?? found;
        node = pair.value;
      } else if (isSeq(node) && typeof key === "number" && node.items[key]) {
        node = node.items[key];
        found = node as Node;
      } else {
        break;
      }
    }
    const offset = found?.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
}

/**
 * TOML has no position-keeping parser among our dependencies; find the key's line
 * by reading the text: the table header of the path's prefix, then the key after it.
 */
export function tomlLocator(text: string): Locator {
  const lines = text.split("\n");
  return (path) => {
    const keys = path.filter((k): k is string => typeof k === "string");
    if (keys.length === 0) return undefined;
    const last = keys[keys.length - 1]!;
    const keyPattern = new RegExp(`^\\s*(?:[\\w.-]+\\.)?["']?${escape(last)}["']?\\s*=`);
    let start = 0;
    for (let depth = keys.length - 1; depth >= 1 && start === 0; depth--) {
      const header = new RegExp(`^\\s*\\[\\[?\\s*${keys.slice(0, depth).map(escape).join("\\s*\\.\\s*")}\\s*\\]\\]?`);
      const at = lines.findIndex((l) => header.test(l));
      if (at >= 0) start = at;
    }
    for (let i = start; i < lines.length; i++) {
      const line = lines[i]!;
      const col = line.search(/\S/);
      if (keyPattern.test(line)) return { line: i + 1, column: col + 1 };
    }
    const table = start > 0 ? start : -1;
    return table >= 0 ? { line: table + 1, column: 1 } : undefined;
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
