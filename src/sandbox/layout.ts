import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SandboxSpec } from "./types.js";

export const SANDBOX_HOME = "/home/agent";
export const SANDBOX_WORKSPACE = "/workspace";
export const SANDBOX_OUTPUT = "/output";
export const SANDBOX_UID = 1000;
/** Where a tool named by its absolute host path appears inside (its host path may be anywhere, /tmp included). */
export const TOOL_BIN_DIR = "/opt/paddock/bin";
export const SANDBOX_PATH = `/usr/local/bin:/usr/bin:/bin:${TOOL_BIN_DIR}`;

/** Where an agent's persistent HOME is kept on the host. */
export function agentHomeDir(dataDir: string, agentId: string): string {
  return join(dataDir, "homes", agentId);
}

/** Removes what paddock keeps of an agent between its sandboxes (its HOME, its caches): for one-shot agents (an evaluation's candidates). Links inside are removed, never followed. */
export function removeAgentState(dataDir: string, agentId: string): void {
  for (const dir of [agentHomeDir(dataDir, agentId), agentCachesDir(dataDir, agentId)]) rmSync(dir, { recursive: true, force: true });
}

/** Where one of an agent's cache folders (a card's `caches`, by its normal name) is kept on the host. */
export function agentCacheDir(dataDir: string, agentId: string, cache: string): string {
  return join(agentCachesDir(dataDir, agentId), encodeURIComponent(cache));
}

function agentCachesDir(dataDir: string, agentId: string): string {
  return join(dataDir, "caches", agentId);
}

/** The path inside a sandbox of a tool the card (or an agent's adapter) names by absolute host path. */
export function toolPathInside(hostPath: string): string {
  return `${TOOL_BIN_DIR}/${hostPath.slice(hostPath.lastIndexOf("/") + 1)}`;
}

export type FsEntry =
  | { type: "bind"; source: string; target: string; readOnly: boolean }
  | { type: "symlink"; path: string; linkTo: string }
  | { type: "tmpfs"; path: string };

/** The CA certificates for TLS through the proxy (they link into the tool tree's /usr/share/ca-certificates). */
const CA_CERTIFICATES = "/etc/ssl/certs";
/** The bundle in it that TLS clients read (SSL_CERT_FILE and friends point here). */
export const CA_BUNDLE = `${CA_CERTIFICATES}/ca-certificates.crt`;

/**
 * What a process inside sees, in mount order, for every backend: the tool tree
 * (the tools and their libraries) read-only, generated /etc files, the workspace, the agent's
 * HOME, an empty /tmp, and the card's own mounts. Nothing else of the host.
 */
export function filesystemLayout(spec: SandboxSpec): FsEntry[] {
  const entries: FsEntry[] = [];
  for (const entry of spec.tools.entries) {
    const path = `/${entry.name}`;
    entries.push(entry.linkTo ? { type: "symlink", path, linkTo: entry.linkTo } : { type: "bind", source: join(spec.tools.root, entry.name), target: path, readOnly: true });
  }
  for (const file of ETC_FILES) entries.push({ type: "bind", source: join(spec.etcDir, file), target: `/etc/${file}`, readOnly: true });
  if (existsSync(CA_CERTIFICATES)) entries.push({ type: "bind", source: CA_CERTIFICATES, target: CA_CERTIFICATES, readOnly: true });
  if (spec.caBundle) entries.push({ type: "bind", source: spec.caBundle, target: CA_BUNDLE, readOnly: true });
  entries.push({ type: "tmpfs", path: "/tmp" });
  entries.push(spec.home ? { type: "bind", source: spec.home, target: SANDBOX_HOME, readOnly: false } : { type: "tmpfs", path: SANDBOX_HOME });
  entries.push({ type: "bind", source: spec.workspace, target: SANDBOX_WORKSPACE, readOnly: spec.outputDir !== undefined || spec.readOnlyWorkspace === true });
  if (spec.outputDir) entries.push({ type: "bind", source: spec.outputDir, target: SANDBOX_OUTPUT, readOnly: false });
  for (const m of spec.mounts) entries.push({ type: "bind", source: m.source, target: m.target, readOnly: m.readOnly });
  return entries;
}

const ETC_FILES = ["passwd", "group", "hosts", "nsswitch.conf"] as const;

const ETC_CONTENT: Record<(typeof ETC_FILES)[number], string> = {
  passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:${SANDBOX_UID}:${SANDBOX_UID}:paddock agent:${SANDBOX_HOME}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  group: `root:x:0:\nagent:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`,
  hosts: "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
  // Names resolve from /etc/hosts only: the sandbox has no resolver to ask.
  "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
};

/** Writes the generated /etc files once per host; they are the same for every sandbox. */
export function ensureEtcDir(runtimeDir: string): string {
  const dir = join(runtimeDir, "etc");
  mkdirSync(dir, { recursive: true });
  for (const file of ETC_FILES) {
    const path = join(dir, file);
    if (!existsSync(path) || readFileSync(path, "utf8") !== ETC_CONTENT[file]) writeFileSync(path, ETC_CONTENT[file], { mode: 0o644 });
  }
  return dir;
}
