import { PassThrough } from "node:stream";
import type { V1Status } from "@kubernetes/client-node";
import type { BackendName, ExitReport, Sandbox, SandboxStats } from "../sandbox/index.js";
import type { PodPlace } from "./attach.js";
import { apiMessage, apiStatus, KubeError, type KubeClients } from "./client.js";

/** What of client-node's WebSocket this needs. */
type Socket = { close(): void; on(event: "close", listener: () => void): unknown };

/**
 * A command run in an agent's container through the API (pods/exec), as a paddock Sandbox: its stdout and stderr
 * are streams here; wait resolves when the exec ends, with the status the API reports. Its input is only what
 * `write` sends: the end of an exec's stdin does not reach the command on every runtime, so nothing may hang on it,
 * and a caller that would close it (as for an agent on this host) finds no stdin. stop asks the command to end with
 * a line on its input (paddock's task launcher ends its agent's whole group on it), then, after the grace, closes the
 * stream. Nothing here runs on this host: the pod is the sandbox.
 */
export class PodCommand implements Sandbox {
  readonly pid = undefined;
  readonly unenforced = [];
  readonly stdin = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private readonly input = new PassThrough();
  private socket: Socket | undefined;
  private status: V1Status | undefined;
  private stopping = false;
  private startedAt = 0;
  private ended: ExitReport | undefined;
  private readonly exited: Promise<ExitReport>;
  private settle!: (report: ExitReport) => void;

  constructor(
    private readonly clients: KubeClients,
    private readonly pod: PodPlace,
    private readonly argv: string[],
    /** The card's backend, as the pod runs it (its RuntimeClass). */
    readonly backend: BackendName,
    readonly name = `${pod.name}/exec`,
  ) {
    this.exited = new Promise((resolve) => (this.settle = resolve));
  }

  async start(): Promise<void> {
    const k8s = await import("@kubernetes/client-node");
    this.startedAt = performance.now();
    try {
      this.socket = (await new k8s.Exec(this.clients.config).exec(this.pod.namespace, this.pod.name, "agent", this.argv, this.stdout, this.stderr, this.input, false, (s) => (this.status = s))) as unknown as Socket;
    } catch (err) {
      const forbidden = apiStatus(err) === 403 ? "the controller's ServiceAccount needs pods/exec in the agents' namespace (paddock kube render's Role has it)" : undefined;
      throw new KubeError("exec_refused", `the cluster refused to run ${this.argv[0]} in pod ${this.pod.name}: ${apiMessage(err)}`, this.pod.name, forbidden);
    }
    this.socket.on("close", () => this.finish());
  }

  private finish(): void {
    if (this.ended) return;
    const durationMs = performance.now() - this.startedAt;
    const code = exitCodeOf(this.status);
    // The API's own failure (the command could not start) is the only word on it: it goes where the output went.
    if (code === undefined && this.status?.message && !this.stopping) this.stderr.write(`paddock: pod ${this.pod.name}: ${this.status.message}\n`);
    this.ended = this.stopping && code === undefined ? { cause: "stopped", code: null, signal: null, durationMs, oomKills: 0 } : { cause: "exited", code: code ?? 1, signal: null, durationMs, oomKills: 0 };
    this.stdout.end();
    this.stderr.end();
    this.settle(this.ended);
  }

  /** Sends bytes to the command's stdin. */
  write(data: string | Buffer): void {
    this.input.write(data);
  }

  wait(): Promise<ExitReport> {
    return this.exited;
  }

  async stop(graceMs = 2_000): Promise<ExitReport> {
    if (this.ended || !this.socket) return this.ended ?? { cause: "stopped", code: null, signal: null, durationMs: 0, oomKills: 0 };
    this.stopping = true;
    this.input.write("stop\n");
    // The command's own end is waited for a little longer than its grace; then the stream goes, and the exec with it.
    const timer = setTimeout(() => this.socket?.close(), graceMs + 2_000);
    const report = await this.exited;
    clearTimeout(timer);
    return report;
  }

  stats(): SandboxStats {
    return { running: this.socket !== undefined && !this.ended, uptimeMs: this.ended?.durationMs ?? (this.startedAt ? performance.now() - this.startedAt : 0), pod: this.pod };
  }
}

/** The exit status in the API's final word on an exec: Success, or NonZeroExitCode with the code as a cause; undefined when there was none. */
export function exitCodeOf(status: V1Status | undefined): number | undefined {
  if (!status) return undefined;
  if (status.status === "Success") return 0;
  const code = Number(status.details?.causes?.find((c) => c.reason === "ExitCode")?.message);
  return Number.isInteger(code) ? code : undefined;
}
