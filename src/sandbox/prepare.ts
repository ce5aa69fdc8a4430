import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { normalCache, type Card } from "../card/index.js";
import { paddockPaths, type PaddockPaths } from "../paths/index.js";
import { fieldName } from "../configfile/index.js";
import { seccompProgramFile } from "../seccomp/index.js";
import { secretsInReach } from "./check.js";
import { agentCacheDir, agentHomeDir, CA_BUNDLE, ensureEtcDir, SANDBOX_HOME, SANDBOX_PATH, SANDBOX_WORKSPACE } from "./layout.js";
import { resolveTools } from "./tools.js";
import { SandboxError, type SandboxSpec } from "./types.js";

/** What an agent's adapter adds to a sandbox. */
export interface AgentSetup {
  command: string[];
  env: Record<string, string>;
  /** Extra tools (absolute paths allowed: they appear under /opt/paddock/bin). */
  tools: string[];
  /** Paths relative to the agent's HOME, with their content. */
  homeFiles: Record<string, string>;
}

export interface PrepareOptions {
  /** argv to run; defaults to the agent's (see `agent`), else the card's `command`. */
  command?: string[];
  /** The agent's launch from its adapter: argv, environment, extra tools, and files laid in its HOME. */
  agent?: AgentSetup;
  /** Overrides the card's workspace. */
  workspace?: string;
  /** Read-only workspace mode: the workspace is read-only and this folder is writable at /output. */
  outputDir?: string;
  /** The workspace is mounted read-only, with no /output. */
  readOnlyWorkspace?: boolean;
  /** HOME is an empty tmpfs instead of the agent's persistent folder (a throwaway sandbox that must carry nothing from one run to the next). */
  ephemeralHome?: boolean;
  /**
   * The agent's way out: inside, 127.0.0.1:<the card's proxy port> reaches the proxy's socket, and the proxy variables point
   * there; with credentials, the CA bundle the sandbox trusts (the host's plus the agent's own CA) and the placeholder variables.
   */
  egress?: { socket: string; caBundle?: string; env?: Record<string, string> };
  /** The gateway's socket and the agent's own key: inside, 127.0.0.1:4000 reaches it, and the OpenAI and Anthropic variables point there. */
  gateway?: { socket: string; key: string };
  stdio?: SandboxSpec["stdio"];
  dieWithParent?: boolean;
  /** Where bwrap records the exit status (for a supervisor that may not be there to see it). */
  statusFile?: string;
  allowUnenforcedLimits?: boolean;
  /** A card with `seccomp: unconfined` runs only when this is given (the command line's --allow-unconfined-seccomp). */
  allowUnconfinedSeccomp?: boolean;
  /** TERM inside; a terminal's user wants theirs, a pipe gets "dumb". */
  term?: string;
  paths?: PaddockPaths;
  /** Put before the sandbox's name (and so its cgroup's): a daemon marks its own with it, to find them again. */
  namePrefix?: string;
}

/** Checks a card against this host and turns it into a sandbox spec; nothing is started or left behind on error. */
export function prepareSandbox(card: Card, options: PrepareOptions = {}): SandboxSpec {
  const paths = options.paths ?? paddockPaths();
  const command = options.command ?? options.agent?.command ?? card.command;
  if (!command || command.length === 0) {
    throw new SandboxError("command_missing", "no command to run: give one after `--`, or set `command` in the card", "command");
  }
  const workspace = resolve(options.workspace ?? card.workspace);
  requireDir(workspace, "workspace", `create it (mkdir -p ${workspace}) or point the card's workspace at an existing folder`);
  const mounts = card.mounts.map((m, i) => {
    if (!existsSync(m.source)) {
      throw new SandboxError("mount_source_missing", `${m.source} does not exist`, `mounts[${i}].source`, "create it or remove the mount from the card");
    }
    return { source: m.source, target: m.target, readOnly: m.mode === "ro" };
  });
  // Cache folders are paddock's, under its data folder (never made through the agent's workspace, whose links the
  // agent controls); bwrap, and gVisor's kernel, make their mount points inside the sandbox, where a link leads
  // nowhere but the sandbox.
  const caches = card.caches.map(normalCache).map((cache) => {
    const source = agentCacheDir(paths.data, card.agent_id, cache);
    mkdirSync(source, { recursive: true, mode: 0o700 });
    return { source, target: join(SANDBOX_WORKSPACE, cache), readOnly: false };
  });
  if (card.seccomp === "unconfined" && !options.allowUnconfinedSeccomp) {
    throw new SandboxError("seccomp_unconfined_refused", "the card turns the system call filter off (seccomp: unconfined)", "seccomp", "pass --allow-unconfined-seccomp to run it so, or use seccomp: default");
  }
  const seccomp = card.seccomp === "unconfined" ? { profile: card.seccomp } : { profile: card.seccomp, programFile: seccompProgramFile(card.seccomp, paths.cache) };
  const outputDir = options.outputDir && resolve(options.outputDir);
  if (outputDir) mkdirSync(outputDir, { recursive: true });
  const tools = resolveTools([...card.tools, ...(options.agent?.tools ?? [])], paths.cache);
  const home = options.ephemeralHome ? undefined : agentHome(paths, card.agent_id, options.agent?.homeFiles ?? {});
  const [inReach] = secretsInReach(card, [...(outputDir || options.readOnlyWorkspace ? [] : [workspace]), ...(outputDir ? [outputDir] : []), ...(home ? [home] : []), ...mounts.filter((m) => !m.readOnly).map((m) => m.source)]);
  if (inReach) throw new SandboxError("credential_in_reach", inReach.message, fieldName(inReach.path), "keep secrets in a folder the sandbox does not mount (e.g. ~/.config/paddock/secrets)");
  const egress = options.egress;
  const name = `${options.namePrefix ?? ""}${card.agent_id}-${randomBytes(3).toString("hex")}`;
  return {
    name,
    agentId: card.agent_id,
    command,
    workspace,
    outputDir,
    seccomp,
    cwd: card.workdir ? join(SANDBOX_WORKSPACE, card.workdir) : SANDBOX_WORKSPACE,
    readOnlyWorkspace: options.readOnlyWorkspace,
    home,
    tools,
    etcDir: ensureEtcDir(paths.runtime),
    mounts: [...mounts, ...caches],
    env: {
      ...sandboxEnv(card, options.term, options.agent?.env),
      ...(egress ? { ...proxyEnv(proxyPort(card)), ...egress.env, ...(egress.caBundle ? caEnv() : {}) } : {}),
      ...(options.gateway ? gatewayEnv(options.gateway.key) : {}),
    },
    caBundle: egress?.caBundle,
    limits: {
      memoryBytes: card.resource_limits.memory_mb * 1024 * 1024,
      cpuShares: card.resource_limits.cpu_shares,
      maxProcesses: card.resource_limits.max_processes,
      maxOpenFiles: card.resource_limits.max_open_files,
    },
    ttlSeconds: card.ttl_seconds,
    exits: [
      ...(egress ? [{ port: proxyPort(card), socket: egress.socket }] : []),
      ...(options.gateway ? [{ port: GATEWAY_PORT, socket: options.gateway.socket }] : []),
    ],
    stdio: options.stdio ?? "pipe",
    dieWithParent: options.dieWithParent ?? true,
    statusFile: options.statusFile,
    allowUnenforcedLimits: options.allowUnenforcedLimits ?? false,
    runDir: join(paths.runtime, "sandboxes", name),
  };
}

/** The agent's persistent HOME, with the files its adapter lays there. */
function agentHome(paths: PaddockPaths, agentId: string, files: Record<string, string>): string {
  const home = agentHomeDir(paths.data, agentId);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(home, file)), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, file), content, { mode: 0o600 });
  }
  return home;
}

/** The environment inside is built from the card (and its agent's adapter) alone: nothing of the caller's environment leaks in; the card has the last word. */
function sandboxEnv(card: Card, term = "dumb", agentEnv: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: SANDBOX_PATH,
    HOME: SANDBOX_HOME,
    USER: "agent",
    LOGNAME: "agent",
    SHELL: "/bin/sh",
    TERM: term,
    LANG: "C.UTF-8",
    TMPDIR: "/tmp",
    AGENT_ID: card.agent_id,
    // The host's CA bundle for OpenSSL-based tools and for Node (npm), which otherwise trusts only its own list.
    ...(existsSync(CA_BUNDLE) ? { SSL_CERT_FILE: CA_BUNDLE, NODE_EXTRA_CA_CERTS: CA_BUNDLE } : {}),
    ...agentEnv,
    ...card.environment,
  };
}

/** Every variable a common TLS client reads its trust from, at the bundle that holds the agent's CA too (mounted over the system one). */
function caEnv(): Record<string, string> {
  return Object.fromEntries(["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"].map((name) => [name, CA_BUNDLE]));
}

/** The card's proxy URL names the port; inside a sandbox the proxy is always on its own loopback. */
function proxyPort(card: Card): number {
  const url = new URL(card.proxy);
  return url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

/** Inside a sandbox the gateway answers on this port (LiteLLM's, so guides' URLs work unchanged). */
export const GATEWAY_PORT = 4000;

/** The variables OpenAI's and Anthropic's clients (and the agents built on them) read. */
function gatewayEnv(key: string): Record<string, string> {
  const base = `http://127.0.0.1:${GATEWAY_PORT}`;
  return { PADDOCK_GATEWAY_URL: base, OPENAI_BASE_URL: `${base}/v1`, OPENAI_API_KEY: key, ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: key };
}

/** Both spellings: curl and git read only the lower-case ones, other tools only the upper-case. */
function proxyEnv(port: number): Record<string, string> {
  const proxy = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, ALL_PROXY: proxy, NO_PROXY: "localhost,127.0.0.1,::1" };
  return Object.fromEntries(Object.entries(vars).flatMap(([k, v]) => [[k, v], [k.toLowerCase(), v]]));
}

function requireDir(path: string, field: string, hint: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new SandboxError("workspace_missing", `${path} does not exist`, field, hint);
  }
  if (!isDir) throw new SandboxError("workspace_not_directory", `${path} is not a directory`, field, hint);
}
