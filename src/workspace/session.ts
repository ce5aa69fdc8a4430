import type { PaddockPaths } from "../paths/index.js";
import type { Sandbox } from "../sandbox/index.js";
import { sections, startInspector, type InspectionResult } from "./inspect.js";

/**
 * Serves requests read from stdin, one a line: each runs its script ($1 is
 * the snapshot script) and answers with its sections, a "code" section (the
 * script's exit status) and an empty "done" section.
 */
const SERVE = `set -f
while IFS= read -r request; do
  case "$request" in
    snapshot) sh -c "$1" paddock-snapshot; rc=$? ;;
    *) rc=64 ;;
  esac
  printf 'code %s\\n%s' "\${#rc}" "$rc"
  printf 'done 0\\n'
done
`;

/**
 * One inspection sandbox kept for the length of a task, so that the snapshot
 * after the task costs what git costs, not a sandbox start as well. It is
 * the same throwaway sandbox as `inspect`'s, only asked twice; it never sees
 * the agent's sandbox, only its workspace, read-only. A request that runs
 * over its time or size ends the session; later requests get undefined and
 * the caller inspects afresh.
 */
export class InspectionSession {
  private pending?: { chunks: Buffer[]; bytes: number; maxBytes: number; done: (r: InspectionResult | undefined) => void };
  private dead = false;

  private constructor(private readonly sandbox: Sandbox) {
    sandbox.stdout!.on("data", (chunk: Buffer) => this.receive(chunk));
    sandbox.stdin!.on("error", () => undefined);
    void sandbox.wait().then(() => {
      this.dead = true;
      this.pending?.done(undefined);
    });
  }

  static async open(dir: string, snapshotScript: string, paths?: PaddockPaths): Promise<InspectionSession> {
    return new InspectionSession(await startInspector({ dir, argv: ["sh", "-c", SERVE, "paddock-inspector", snapshotScript], paths }));
  }

  /** Runs the snapshot script once; undefined when the session has ended. */
  snapshot(limits: { maxBytes: number; timeoutMs: number }): Promise<InspectionResult | undefined> {
    if (this.dead || this.pending) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        void this.close();
        resolve({ code: null, stdout: Buffer.alloc(0), stderr: "", truncated: false, timedOut: true });
      }, limits.timeoutMs);
      this.pending = {
        chunks: [],
        bytes: 0,
        maxBytes: limits.maxBytes,
        done: (r) => {
          clearTimeout(timer);
          this.pending = undefined;
          resolve(r);
        },
      };
      this.sandbox.stdin!.write("snapshot\n");
    });
  }

  private receive(chunk: Buffer): void {
    const p = this.pending;
    if (!p) return;
    p.chunks.push(chunk);
    p.bytes += chunk.length;
    if (p.bytes > p.maxBytes) {
      void this.close();
      return p.done({ code: null, stdout: Buffer.concat(p.chunks).subarray(0, p.maxBytes), stderr: "", truncated: true, timedOut: false });
    }
    // The answer is complete once its last section, "done", has arrived.
    const tail = chunk.length >= 7 ? chunk.subarray(-7) : Buffer.concat(p.chunks).subarray(-7);
    if (tail.toString("latin1") !== "done 0\n") return;
    const found = sections(Buffer.concat(p.chunks));
    if (!found.has("done")) return;
    p.done({ code: Number(found.get("code")?.toString() ?? "-1"), stdout: Buffer.concat(p.chunks), stderr: "", truncated: false, timedOut: false });
  }

  async close(): Promise<void> {
    this.dead = true;
    this.sandbox.stdin!.end();
    await this.sandbox.stop(1000);
  }
}
