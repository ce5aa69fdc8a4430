import { join } from "node:path";
import type { LocalPaddock } from "../local/index.js";
import { paddockPaths } from "../paths/index.js";
import { EXIT, report } from "./fail.js";
import { commandLog, type LogFormat } from "./log.js";

/**
 * A command that runs tasks in its own process (`run`, `eval`): paddock's parts started on paddock.yaml (or on the
 * built-in scripted model, said on stderr), a signal that Ctrl-C and SIGTERM abort, everything closed afterwards.
 * `work` returns the exit status; an error is reported and exits 125.
 */
export async function withLocalPaddock(options: { config?: string; logFormat: LogFormat }, work: (local: LocalPaddock, signal: AbortSignal) => Promise<number>): Promise<number> {
  const { startLocal } = await import("../local/index.js");
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  let local: LocalPaddock | undefined;
  try {
    const paths = paddockPaths();
    local = await startLocal({ configFile: options.config, paths, log: commandLog(options.logFormat, join(paths.data, "logs", "paddock.log")) });
    if (local.smoke) {
      process.stderr.write(
        "paddock: no paddock.yaml: using the built-in scripted model (a SMOKE TEST: it replays real tool calls to prove the chain; it does not think).\n" +
          "         Point paddock.yaml at vLLM or llama.cpp for a real model (see examples/paddock.yaml).\n",
      );
    }
    return await work(local, controller.signal);
  } catch (err) {
    return report(err, EXIT.paddockError);
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    await local?.close();
  }
}
