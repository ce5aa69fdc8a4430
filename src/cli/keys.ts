import { InvalidArgumentError, type Command } from "commander";
import { isPaddockError, PaddockError } from "../errors/index.js";
import { adminCall, DEFAULT_GATEWAY_URL, findMasterKey, type AdminTarget } from "../gateway/index.js";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";
import { number } from "./parse.js";

interface TargetOptions {
  gateway?: string;
  masterKeyFile?: string;
  json?: boolean;
}

interface FieldOptions extends TargetOptions {
  models?: string[];
  budget?: number;
  rpm?: number;
  tpm?: number;
  expires?: string;
  alias?: string;
  block?: boolean;
  tokenBudget?: number;
  budgetDuration?: string;
}

/** A key as the gateway shows it (LiteLLM's fields; `token` is the key's SHA-256). */
interface KeyInfo {
  token: string;
  key_name: string;
  key_alias: string | null;
  models: string[];
  max_budget: number | null;
  spend: number;
  rpm_limit: number | null;
  tpm_limit: number | null;
  expires: string | null;
  blocked: boolean;
  max_tokens_budget: number | null;
  tokens_used: number;
  budget_reset_at: string | null;
}

export function registerKeys(program: Command): void {
  const keys = program
    .command("keys")
    .description("the gateway's virtual keys (LiteLLM's /key API): create, list, info, update, revoke")
    .addHelpText("after", "\nThe gateway: --gateway URL, else $PADDOCK_GATEWAY_URL, else http://127.0.0.1:4000.\nIts master key: --master-key-file FILE, else $PADDOCK_MASTER_KEY, else the one `paddock up --gateway` keeps.\nExit status: 0 done, 1 the gateway refused the request (no such key, an invalid field), 2 usage, 125 no gateway or no master key.");

  withFields(withTarget(keys.command("create").description("make a key; it is printed once (the gateway keeps only its SHA-256)")))
    .action(action(async (target, opts: FieldOptions) => {
      const created = (await adminCall(target, "POST", "/key/generate", fields(opts))) as KeyInfo & { key: string };
      if (opts.json) return print(created);
      process.stdout.write(`${created.key}\n`);
      process.stderr.write(`created ${describe(created)}\nthe key is shown this once: paddock keeps only its SHA-256\n`);
    }));

  withTarget(keys.command("list").description("every key, without the keys themselves")).action(action(async (target, opts: TargetOptions) => {
    const { keys: list } = (await adminCall(target, "GET", "/key/list?return_full_object=true")) as { keys: KeyInfo[] };
    if (opts.json) return print(list);
    if (list.length === 0) return void process.stderr.write("no keys\n");
    for (const key of list) process.stdout.write(`${describe(key)}\n`);
  }));

  withTarget(keys.command("info").description("one key, by the key, its alias or its SHA-256").argument("<key>", "sk-..., an alias, or a key's SHA-256"))
    .action(action(async (target, opts: TargetOptions, key: string) => {
      const { info } = (await adminCall(target, "GET", `/key/info?key=${encodeURIComponent(await resolveKey(target, key))}`)) as { info: KeyInfo };
      opts.json ? print(info) : process.stdout.write(`${describe(info)}\n`);
    }));

  withFields(withTarget(keys.command("update").description("change a key's models, budget, limits, expiry or alias; --block and --unblock").argument("<key>", "sk-..., an alias, or a key's SHA-256")))
    .option("--block", "refuse the key until --unblock")
    .option("--unblock", "take the key again")
    .action(action(async (target, opts: FieldOptions & { unblock?: boolean }, key: string) => {
      if (opts.block && opts.unblock) throw new InvalidArgumentError("--block and --unblock together");
      const updated = (await adminCall(target, "POST", "/key/update", { key: await resolveKey(target, key), ...fields({ ...opts, block: opts.block ? true : opts.unblock ? false : undefined }) })) as KeyInfo;
      opts.json ? print(updated) : process.stdout.write(`${describe(updated)}\n`);
    }));

  withTarget(keys.command("revoke").description("delete keys: requests with them are refused from then on").argument("<keys...>", "sk-..., aliases, or keys' SHA-256"))
    .action(action(async (target, opts: TargetOptions, given: string[]) => {
      const hashes = await Promise.all(given.map((k) => resolveKey(target, k)));
      const { deleted_keys } = (await adminCall(target, "POST", "/key/delete", { keys: hashes })) as { deleted_keys: string[] };
      if (opts.json) return print({ deleted_keys });
      process.stdout.write(`revoked ${deleted_keys.length} key${deleted_keys.length === 1 ? "" : "s"}\n`);
      if (deleted_keys.length < given.length) throw new PaddockError("key_not_found", `${given.length - deleted_keys.length} of the keys did not exist`);
    }));
}

function withTarget(command: Command): Command {
  return command
    .option("--gateway <url>", `the gateway (default: $PADDOCK_GATEWAY_URL or ${DEFAULT_GATEWAY_URL})`)
    .option("--master-key-file <file>", "read the master key from this file")
    .option("--json", "JSON on stdout, in LiteLLM's field names");
}

function withFields(command: Command): Command {
  return command
    .option("--models <list>", "models the key may call, comma-separated (default: all)", (v) => v.split(",").map((m) => m.trim()).filter(Boolean))
    .option("--budget <usd>", "the most the key may spend, in USD", number(0, false))
    .option("--rpm <n>", "requests per minute", number(1, true))
    .option("--tpm <n>", "tokens per minute", number(1, true))
    .option("--token-budget <n>", "the most tokens (input + output) the key may use, per budget window", number(1, true))
    .option("--budget-duration <duration>", "the budget window: spend and tokens start again from 0 every 24h, 30d, ...", duration)
    .option("--expires <duration>", "how long the key lives: 30s, 15m, 24h, 30d", duration)
    .option("--alias <name>", "a name to find the key by");
}

function duration(value: string): string {
  if (!/^\d+[smhd]$/.test(value)) throw new InvalidArgumentError("must look like 30s, 15m, 24h or 30d");
  return value;
}

/** The command line's fields in LiteLLM's names; what was not given is left out (update changes only those). */
function fields(opts: FieldOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    models: opts.models,
    max_budget: opts.budget,
    max_tokens_budget: opts.tokenBudget,
    budget_duration: opts.budgetDuration,
    rpm_limit: opts.rpm,
    tpm_limit: opts.tpm,
    duration: opts.expires,
    key_alias: opts.alias,
    blocked: opts.block,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/** A key as the gateway takes it: the key or its hash as given, an alias looked up. */
async function resolveKey(target: AdminTarget, given: string): Promise<string> {
  if (given.startsWith("sk-") || /^[0-9a-f]{64}$/.test(given)) return given;
  const { keys } = (await adminCall(target, "GET", `/key/list?return_full_object=true&key_alias=${encodeURIComponent(given)}`)) as { keys: KeyInfo[] };
  if (keys.length === 0) throw new PaddockError("key_not_found", `no key has the alias '${given}'`, undefined, "`paddock keys list` shows every key with its alias");
  return keys[0]!.token;
}

function describe(k: KeyInfo): string {
  const limits = [
    `models ${k.models.length ? k.models.join(",") : "all"}`,
    `spend $${k.spend.toFixed(4)}${k.max_budget !== null ? ` of $${k.max_budget}` : ""}`,
    `tokens ${k.tokens_used}${k.max_tokens_budget !== null ? ` of ${k.max_tokens_budget}` : ""}`,
    ...(k.budget_reset_at ? [`resets ${k.budget_reset_at}`] : []),
    ...(k.rpm_limit !== null ? [`rpm ${k.rpm_limit}`] : []),
    ...(k.tpm_limit !== null ? [`tpm ${k.tpm_limit}`] : []),
    ...(k.expires ? [`expires ${k.expires}`] : []),
    ...(k.blocked ? ["BLOCKED"] : []),
  ];
  return `${k.key_alias ?? "-"}  ${k.key_name}  ${limits.join("  ")}  sha256 ${k.token.slice(0, 12)}`;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Runs a subcommand against the gateway it names; errors as every command reports them, with a status that says whose fault. */
function action<A extends unknown[]>(body: (target: AdminTarget, opts: TargetOptions & Record<string, unknown>, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const opts = command.opts() as TargetOptions & Record<string, unknown>;
    try {
      const target = { url: opts.gateway ?? process.env.PADDOCK_GATEWAY_URL ?? DEFAULT_GATEWAY_URL, masterKey: findMasterKey(process.env, paddockPaths().runtime, opts.masterKeyFile) };
      await body(target, opts, ...(args.slice(0, -2) as A));
    } catch (err) {
      if (err instanceof InvalidArgumentError) {
        process.stderr.write(`paddock: ${err.message}\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const refused = isPaddockError(err) && ["gateway_not_found", "gateway_error", "key_not_found"].includes(err.code);
      process.exitCode = report(err, refused ? EXIT.invalid : EXIT.paddockError);
    }
  };
}
