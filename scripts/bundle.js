// Bundles the compiled CLI (dist/src) into dist/cli: one file per command
// module and shared chunks, so `paddock exec` reads a handful of files instead
// of hundreds (Node's ESM loader pays per file). The audit writer is a second
// entry: the egress proxy starts it as a worker from the same folder.
// The dashboard's front end (web/) goes to dist/dashboard: one script, one
// stylesheet and the page, served by the daemon as they are (no CDN).
import { copyFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const outdir = "dist/cli";
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: ["dist/src/cli/main.js", "dist/src/egress/audit-worker.js"],
  outdir,
  entryNames: "[name]",
  chunkNames: "[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  keepNames: true,
  sourcemap: true,
  logLevel: "warning",
  // A native addon, and pg's optional native binding (never installed).
  external: ["better-sqlite3", "pg-native"],
  // CommonJS dependencies call require(); in an ES module it has to be made.
  banner: { js: "import { createRequire as paddockRequire } from 'node:module'; const require = paddockRequire(import.meta.url);" },
});

const web = "dist/dashboard";
rmSync(web, { recursive: true, force: true });
await build({
  entryPoints: { app: "web/main.tsx" },
  outdir: web,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
copyFileSync("web/index.html", `${web}/index.html`);
