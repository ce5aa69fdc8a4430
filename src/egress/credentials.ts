import { createHmac, randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { credentialName, type Credential } from "../card/index.js";
import { PaddockError } from "../errors/index.js";
import { Allowlist } from "./rules.js";

/** A secret file larger than this is not a token: refused rather than sent. */
const MAX_SECRET_BYTES = 16 * 1024;
/** Secrets shorter than this are not searched for in requests: too many innocent bodies would contain them. */
const MIN_NEEDLE = 8;

/** Where secrets of each source kind are read from. */
export interface SecretSources {
  /** The environment `env` secrets come from (paddock's own). */
  env: NodeJS.ProcessEnv;
  /** On a cluster: the folder where the proxy's Kubernetes Secrets are mounted (one folder per Secret, one file per key). */
  kubeSecretsDir?: string;
}

export class CredentialError extends PaddockError {}

/** A credential that applies to one request, with its value as read just now. */
export interface Injection {
  name: string;
  header: string;
  value: string;
}

interface Entry {
  credential: Credential;
  name: string;
  where: string;
  hosts: Allowlist;
  placeholder: string;
  /** The last value read: what a request to another host must not carry. */
  value: string;
  needles: string[];
}

/**
 * One agent's credentials as the egress proxy holds them: which hosts get
 * which header, the secret read afresh for every request (rotation needs no
 * restart), the placeholders the sandbox sees instead, and the search for
 * placeholders and secrets in requests to any other host.
 */
export class AgentCredentials {
  private constructor(
    private readonly entries: Entry[],
    private readonly sources: SecretSources,
  ) {}

  /**
   * Reads every secret once, so a missing or malformed one fails the agent's start, not its first request. Placeholders
   * derive from `placeholderSeed` (the agent's CA key): a restarted daemon, or another proxy replica holding the same CA,
   * gives the same ones without storing them.
   */
  static async load(credentials: readonly Credential[], sources: SecretSources, placeholderSeed: string | Buffer = randomBytes(32)): Promise<AgentCredentials> {
    const entries = await Promise.all(
      credentials.map(async (credential, i) => {
        const name = credentialName(credential);
        const entry: Entry = {
          credential,
          name,
          where: `credentials[${i}].secret`,
          hosts: new Allowlist([credential.host]),
          placeholder: placeholderOf(placeholderSeed, i, name),
          value: "",
          needles: [],
        };
        remember(entry, checkedSecret(entry, await readSecret(entry, sources)));
        return entry;
      }),
    );
    return new AgentCredentials(entries, sources);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The variables the sandbox gets: each credential's placeholder under its `placeholder_env`. */
  environment(): Record<string, string> {
    return Object.fromEntries(this.entries.filter((e) => e.credential.placeholder_env).map((e) => [e.credential.placeholder_env!, e.placeholder]));
  }

  /** Whether any credential is injected into requests to `host:port` (over TLS). */
  covers(host: string, port: number): boolean {
    return this.entries.some((e) => e.hosts.match(host, port, "tunnel"));
  }

  /** The headers for a request to `host:port`, each secret read now. */
  async injections(host: string, port: number): Promise<Injection[]> {
    const matching = this.entries.filter((e) => e.hosts.match(host, port, "tunnel"));
    return Promise.all(
      matching.map(async (entry) => {
        const value = checkedSecret(entry, await readSecret(entry, this.sources));
        if (value !== entry.value) remember(entry, value);
        const inject = entry.credential.inject;
        return "header" in inject
          ? { name: entry.name, header: inject.header, value: inject.value.replaceAll("${secret}", value) }
          : { name: entry.name, header: "Authorization", value: `Basic ${Buffer.from(`${inject.basic.user}:${inject.basic.password.replaceAll("${secret}", value)}`).toString("base64")}` };
      }),
    );
  }

  /**
   * The credential whose placeholder or secret appears in `texts` (raw, percent-decoded,
   * or base64 at any alignment), among those that do not belong to `host:port`.
   */
  leakIn(host: string, port: number, texts: readonly string[]): string | undefined {
    const foreign = this.foreign(host, port);
    if (foreign.length === 0) return undefined;
    const haystacks = texts.flatMap((t) => [t, percentDecoded(t)]);
    return foreign.find((e) => e.needles.some((n) => haystacks.some((h) => h.includes(n))))?.name;
  }

  /**
   * What hides the injected secrets in the credential host's answer (an error page or an echo service may repeat the
   * header): each occurrence, as is or in base64, becomes as many '*', so lengths stay right.
   */
  masker(injected: readonly Injection[]): SecretMasker {
    const names = new Set(injected.map((i) => i.name));
    return new SecretMasker(this.entries.filter((e) => names.has(e.name) && e.value.length >= MIN_NEEDLE).flatMap((e) => encodings(e.value)));
  }

  /** A scanner for a request body to `host:port`, or undefined when nothing foreign can leak there. */
  bodyScanner(host: string, port: number, limitBytes: number): BodyScanner | undefined {
    const foreign = this.foreign(host, port);
    return foreign.length === 0 ? undefined : new BodyScanner(foreign.map((e) => ({ name: e.name, needles: e.needles })), limitBytes);
  }

  private foreign(host: string, port: number): Entry[] {
    return this.entries.filter((e) => !e.hosts.match(host, port, "tunnel"));
  }
}

/** The variables a sandbox gets for `credentials` whose placeholders derive from `seed` (for an agent pod, without reading any secret). */
export function placeholderEnvironment(credentials: readonly Credential[], seed: string | Buffer): Record<string, string> {
  return Object.fromEntries(credentials.flatMap((c, i) => (c.placeholder_env ? [[c.placeholder_env, placeholderOf(seed, i, credentialName(c))]] : [])));
}

function placeholderOf(seed: string | Buffer, index: number, name: string): string {
  return `paddock-placeholder-${createHmac("sha256", seed).update(`${index}:${name}`).digest("hex").slice(0, 32)}`;
}

/** Looks for needles in a body as it streams, across chunk boundaries, up to a limit. */
export class BodyScanner {
  private carry = "";
  private seen = 0;
  private readonly longest: number;

  constructor(
    private readonly sets: Array<{ name: string; needles: string[] }>,
    private readonly limitBytes: number,
  ) {
    this.longest = Math.max(...sets.flatMap((s) => s.needles.map((n) => n.length)));
  }

  /** The credential a chunk leaks, if any; past the limit, chunks are no longer read. */
  scan(chunk: Buffer): string | undefined {
    if (this.seen >= this.limitBytes) return undefined;
    const text = this.carry + chunk.subarray(0, this.limitBytes - this.seen).toString("latin1");
    this.seen += chunk.length;
    this.carry = text.slice(-(this.longest - 1));
    return this.sets.find((s) => s.needles.some((n) => text.includes(n)))?.name;
  }
}

/** Replaces needles with '*' in header values and in a streamed body, holding back only a tail that may begin one. */
export class SecretMasker {
  constructor(private readonly needles: string[]) {}

  headers(raw: string[]): string[] {
    return raw.map((value, i) => (i % 2 === 1 ? this.mask(value) : value));
  }

  body(): Transform {
    let carry = "";
    const push = (stream: Transform, text: string, final: boolean) => {
      const masked = this.mask(text);
      const keep = final ? 0 : this.pendingPrefix(masked);
      carry = masked.slice(masked.length - keep);
      if (masked.length > keep) stream.push(Buffer.from(masked.slice(0, masked.length - keep), "latin1"));
    };
    return new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        push(this, carry + chunk.toString("latin1"), false);
        done();
      },
      flush(done: TransformCallback) {
        push(this, carry, true);
        done();
      },
    });
  }

  private mask(text: string): string {
    let out = text;
    for (const needle of this.needles) if (out.includes(needle)) out = out.replaceAll(needle, "*".repeat(needle.length));
    return out;
  }

  /** The length of the longest tail of `text` that is the start of a needle (it may be completed by the next chunk). */
  private pendingPrefix(text: string): number {
    let keep = 0;
    for (const needle of this.needles) {
      for (let k = Math.min(needle.length - 1, text.length); k > keep; k--) {
        if (text.endsWith(needle.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    return keep;
  }
}

function remember(entry: Entry, value: string): void {
  entry.value = value;
  entry.needles = [entry.placeholder, ...(value.length >= MIN_NEEDLE ? [value] : [])].flatMap(encodings);
}

/**
 * A value as it may travel: as is, and base64 (standard and URL-safe) at each of the three alignments it can start at;
 * as latin1 text of its UTF-8 bytes, the way HTTP heads and the scanned bodies are read.
 */
function encodings(value: string): string[] {
  const out = [Buffer.from(value).toString("latin1")];
  for (let pad = 0; pad < 3; pad++) {
    const bytes = Buffer.concat([Buffer.alloc(pad), Buffer.from(value)]);
    const encoded = bytes.toString("base64");
    // Only the characters made of the value's bits alone: those touched by the padding or the end vary with the neighbours.
    const core = encoded.slice(Math.ceil((pad * 8) / 6), Math.floor((bytes.length * 8) / 6));
    out.push(core, core.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return [...new Set(out)];
}

function percentDecoded(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function secretFile(entry: Entry, sources: SecretSources): string | undefined {
  const secret = entry.credential.secret;
  if ("file" in secret) return secret.file;
  if (!("kube" in secret)) return undefined;
  const { secret: name, key } = secret.kube;
  if (!sources.kubeSecretsDir) {
    throw new CredentialError("credential_source_unavailable", `the Kubernetes Secret ${name} is read by the egress proxy on a cluster, and this one has no kube_secrets_dir`, `${entry.where}.kube`, "on one machine, use secret: { file: PATH } or { env: NAME }");
  }
  if (!/^[a-z0-9.-]+$/.test(name) || !/^[-._a-zA-Z0-9]+$/.test(key) || key.startsWith("..")) {
    throw new CredentialError("credential_source_invalid", `'${name}/${key}' is not a Secret name and key`, `${entry.where}.kube`);
  }
  return join(sources.kubeSecretsDir, name, key);
}

async function readSecret(entry: Entry, sources: SecretSources): Promise<string> {
  const file = secretFile(entry, sources);
  if (file === undefined) return envSecret(entry, sources);
  try {
    if ((await stat(file)).size > MAX_SECRET_BYTES) throw tooLarge(entry, file);
    return await readFile(file, "utf8");
  } catch (err) {
    throw unreadable(entry, file, err);
  }
}

function envSecret(entry: Entry, sources: SecretSources): string {
  const name = (entry.credential.secret as { env: string }).env;
  const value = sources.env[name];
  if (value === undefined) throw new CredentialError("credential_unreadable", `${name} is not set in paddock's environment`, `${entry.where}.env`, "set it where paddock (the daemon, for spawned agents) starts");
  return value;
}

function tooLarge(entry: Entry, file: string): CredentialError {
  return new CredentialError("credential_invalid", `${file} is larger than ${MAX_SECRET_BYTES} bytes: not a token`, entry.where);
}

function unreadable(entry: Entry, file: string, err: unknown): CredentialError {
  if (err instanceof CredentialError) return err;
  return new CredentialError("credential_unreadable", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, entry.where);
}

/** One trailing newline (as editors and `echo` leave) is not part of a token; any other line break would split the header. */
function checkedSecret(entry: Entry, raw: string): string {
  const value = raw.replace(/\r?\n$/, "");
  if (value.length === 0) throw new CredentialError("credential_invalid", "the secret is empty", entry.where);
  if (/[\r\n\0]/.test(value)) throw new CredentialError("credential_invalid", "the secret contains a line break or NUL: it would split the header", entry.where);
  return value;
}

