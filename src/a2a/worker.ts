import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { TaskState, type Artifact, type Message, type Part, Role } from "@a2a-js/sdk";
import { AgentEvent, type AgentExecutor, type ExecutionEventBus, type RequestContext } from "@a2a-js/sdk/server";
import type { Card } from "../card/index.js";
import type { Executor, TaskPlace, TaskRequest } from "../executor/index.js";
import type { StoredCard } from "../supervisor/index.js";
import { RUN_DIFF_MAX_BYTES, type RunRecord } from "../store/index.js";
import { readWorkspaceFiles, type WorkspaceRef } from "../workspace/index.js";
import { filePart, messageText, textPart } from "./card.js";

/** Agent output is sent as progress at most this often, in one status update. */
const PROGRESS_EVERY_MS = 200;
/** Changed files larger than this are named in the result but not attached. */
const ATTACH_MAX_BYTES = 1 << 20;
/** All attached files together, and the diff, are cut here. */
const ATTACH_TOTAL_MAX_BYTES = 16 << 20;

/**
 * A2A's AgentExecutor for a paddock worker: every task is a run of the
 * executor with the worker's card, in a sandbox of its own. Progress is the
 * agent's output as `working` status updates; the result is the contract
 * (completed, input-required for NEEDS_INFO, failed) with the changed files
 * and the diff as artifacts. Cancelling ends the task's whole process tree. With a `place`, each task runs there
 * (the worker's pod on a cluster) and its files are read there.
 */
export class WorkerExecutor implements AgentExecutor {
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly card: Card,
    private readonly executor: Executor,
    private readonly place?: () => Promise<TaskPlace>,
  ) {}

  cancelTask = async (taskId: string): Promise<void> => {
    this.running.get(taskId)?.abort();
  };

  async execute(context: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId } = context;
    const message = (text: string): Message => ({ role: Role.ROLE_AGENT, messageId: randomUUID(), parts: [textPart(text)], taskId, contextId, extensions: [], metadata: {}, referenceTaskIds: [] });
    const status = (state: TaskState, text?: string) =>
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state, timestamp: new Date().toISOString(), message: text === undefined ? undefined : message(text) }, metadata: {} }));
    if (!context.task) {
      bus.publish(AgentEvent.task({ id: taskId, contextId, status: { state: TaskState.TASK_STATE_SUBMITTED, timestamp: new Date().toISOString(), message: undefined }, artifacts: [], history: [context.userMessage], metadata: {} }));
    }
    const controller = new AbortController();
    this.running.set(taskId, controller);
    // Output goes out at once when it is sparse, and at most every PROGRESS_EVERY_MS in one update when it floods.
    let pending = "";
    let flush: NodeJS.Timeout | undefined;
    let lastSent = 0;
    const progress = () => {
      flush = undefined;
      if (pending) status(TaskState.TASK_STATE_WORKING, pending);
      pending = "";
      lastSent = performance.now();
    };
    try {
      status(TaskState.TASK_STATE_WORKING, `${this.card.kind} is starting in ${this.place ? "its pod" : "its sandbox"}`);
      const { paddock_allow_unconfined_seccomp: allowUnconfinedSeccomp, paddock_role: role } = this.card as StoredCard;
      const place = await this.place?.();
      const task: TaskRequest = {
        place,
        card: this.card,
        prompt: messageText(context.userMessage.parts),
        signal: controller.signal,
        allowUnconfinedSeccomp: allowUnconfinedSeccomp === true,
        // A worker spawned in a role does every task in it: its instructions, its sections, its verification.
        ...(role ? { role: { name: role.name, systemPrompt: role.system_prompt, sections: role.sections } } : {}),
        ...(role?.verify ? { verify: { command: role.verify, retries: role.verify_retries } } : {}),
      };
      const record = await this.executor.run(task, (event) => {
        if (event.type === "output" && event.stream === "stdout") {
          pending += event.text;
          const wait = lastSent + PROGRESS_EVERY_MS - performance.now();
          if (wait <= 0 && !flush) progress();
          else flush ??= setTimeout(progress, wait);
        } else if (event.type === "verification" && event.passed !== undefined) {
          status(TaskState.TASK_STATE_WORKING, `verification \`${event.command}\` ${event.passed ? "passed" : `failed (exit ${event.exit_code ?? "by a signal"})`}`);
        } else if (event.type === "attempt" && event.attempt > 1) {
          status(TaskState.TASK_STATE_WORKING, `attempt ${event.attempt}: the previous output had no readable result`);
        }
      });
      clearTimeout(flush);
      progress();
      for (const artifact of await this.artifacts(record, place?.workspace ?? resolve(this.card.workspace))) bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact, append: false, lastChunk: true, metadata: undefined }));
      if (record.error?.category === "Cancelled") status(TaskState.TASK_STATE_CANCELED, "cancelled: the task's processes were ended");
      else if (record.outcome === "COMPLETE") status(TaskState.TASK_STATE_COMPLETED, record.summary ?? "");
      else if (record.outcome === "NEEDS_INFO") status(TaskState.TASK_STATE_INPUT_REQUIRED, [record.summary ?? "", ...record.questions.map((q) => `- ${q}`)].join("\n"));
      else status(TaskState.TASK_STATE_FAILED, record.error ? `${record.error.category}: ${record.error.message}${record.error.hint ? `\nhint: ${record.error.hint}` : ""}` : (record.summary ?? "failed"));
    } catch (err) {
      clearTimeout(flush);
      status(TaskState.TASK_STATE_FAILED, (err as Error).message);
    } finally {
      this.running.delete(taskId);
    }
  }

  /**
   * The result (contract and run), the changed files as parts, and the diff
   * when the workspace is a git repository; all read inside an inspection
   * sandbox (or, for a task in a pod, in the pod). A link is sent as a link (its target as text, mediaType
   * inode/symlink), never as the bytes of what it points to; what was not
   * attached is named in the result's `skipped_files`.
   */
  private async artifacts(record: RunRecord, workspace: WorkspaceRef): Promise<Artifact[]> {
    const artifact = (name: string, description: string, parts: Part[]): Artifact => ({ artifactId: randomUUID(), name, description, parts, metadata: undefined, extensions: [] });
    const wanted = record.changed_files.filter((f) => f.status !== "deleted").map((f) => f.path);
    const read = await readWorkspaceFiles(workspace, wanted, { maxFileBytes: ATTACH_MAX_BYTES, maxTotalBytes: ATTACH_TOTAL_MAX_BYTES, paths: this.executor.paths });
    const files: Part[] = [];
    const skipped: Array<{ path: string; reason: string }> = [];
    for (const file of read) {
      if (file.kind === "file") files.push(filePart(file.path, file.content));
      else if (file.kind === "link") files.push({ content: { $case: "text", value: file.target }, metadata: { link: true }, filename: file.path, mediaType: "inode/symlink" });
      else skipped.push({ path: file.path, reason: file.reason });
    }
    const diff = record.diff;
    const result = artifact("result", "The task's contract and run record", [
      {
        content: { $case: "data", value: { outcome: record.outcome, summary: record.summary, questions: record.questions, recovered: record.recovered, changed_files: record.changed_files, skipped_files: skipped, workspace_notes: record.workspace_notes ?? [], diff_truncated: diff?.truncated ?? false, run_id: record.run_id, error: record.error } },
        metadata: undefined,
        filename: "",
        mediaType: "application/json",
      },
    ]);
    return [
      result,
      ...(files.length ? [artifact("changed-files", "The files the task added or modified, as they are now (links as links)", files)] : []),
      ...(diff ? [artifact("diff", `git diff of the workspace after the task${diff.truncated ? ` (cut at ${RUN_DIFF_MAX_BYTES >> 20} MiB)` : ""}`, [textPart(diff.text, "text/x-diff")])] : []),
    ];
  }
}
