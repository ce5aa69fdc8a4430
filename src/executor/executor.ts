import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { agentLaunch, chooseModel } from "../agents/index.js";
import { cardBudget, type Card } from "../card/index.js";
import type { EgressAttachment, EgressService } from "../egress/index.js";
import { PaddockError } from "../errors/index.js";
import type { AgentGatewayAccess } from "../gateway/index.js";
import type { PaddockPaths } from "../paths/index.js";
import { RUN_DIFF_MAX_BYTES, type RunRecord, type Store } from "../store/index.js";
import { changedFiles, openSnapshotSession, workspaceDiff, workspaceState, type InspectionSession, type RemoteWorkspace, type WorkspaceRef, type WorkspaceState } from "../workspace/index.js";
import { runAttempt, type AttemptPlace, type AttemptResult } from "./attempt.js";
import { diagnose, hintFor } from "./classify.js";
import { missingSections, type Contract } from "./contract.js";
import { resultMode } from "./mode.js";
import { TaskPool } from "./pool.js";
import { afterFailedVerification, verifyTask } from "./verify.js";
import type { ExecutorSettings } from "./settings.js";
import { structure } from "./structurer.js";

export interface TaskRequest {
  card: Card;
  prompt: string;
  /** Overrides the card's model. */
  model?: string;
  workspace?: string;
  signal?: AbortSignal;
  /** The card may turn the seccomp filter off (the command line said so). */
  allowUnconfinedSeccomp?: boolean;
  /** A command that must pass (exit 0) for a COMPLETE to stand, and how many more attempts get its output when it fails. */
  verify?: { command: string; retries: number };
  /** The role the task is done in: its instructions go into the agent's system prompt, its sections into the contract. */
  role?: { name: string; systemPrompt?: string; sections: string[] };
  /** The task is a candidate's in an evaluation: recorded with the run, for `paddock runs compare`. */
  candidate?: RunRecord["candidate"];
  /** Where the task runs, when not in fresh sandboxes on this host over `workspace`. */
  place?: TaskPlace;
}

/**
 * Where a task runs when not in fresh sandboxes on this host: an A2A worker's own pod on a cluster. Its attempts and
 * its verification start there, its workspace is read there, and its way out is the place's own (no egress here).
 */
export interface TaskPlace extends AttemptPlace {
  workspace: RemoteWorkspace;
}

/** What a task reports while it runs (the CLI's progress, A2A's status events). */
export type TaskEvent =
  | { type: "queued"; run_id: string; position: number; pool: string }
  | { type: "attempt"; run_id: string; attempt: number }
  | { type: "output"; run_id: string; stream: "stdout" | "stderr"; text: string }
  | { type: "structurer"; run_id: string; model: string }
  | { type: "verification"; run_id: string; command: string; passed?: boolean; exit_code?: number | null }
  | { type: "finished"; run_id: string; run: RunRecord };

export interface ExecutorOptions {
  store: Store;
  paths: PaddockPaths;
  gateway: AgentGatewayAccess;
  /** Gives cards with allowed_hosts their one way out; without it they are refused. */
  egress?: EgressService;
  settings: ExecutorSettings;
  log?: (fields: Record<string, unknown>) => void;
}

/**
 * One-shot tasks with a structured result: the card's agent runs the prompt
 * headless in a fresh sandbox, and its output must end with the contract
 * (outcome, summary). An unreadable result gets one structurer call, then
 * bounded retries with a stricter instruction; failures that asking again
 * cannot fix (Network, Auth, Config, Path) end the run at once, with a hint.
 */
export class Executor {
  private readonly pool = new TaskPool();
  /** One task at a time per agent: its HOME and its egress identity are its own. */
  private readonly agents = new TaskPool();

  constructor(private readonly options: ExecutorOptions) {}

  /** Where this executor's runs keep their state (and inspections their tool trees). */
  get paths(): PaddockPaths {
    return this.options.paths;
  }

  async run(task: TaskRequest, onEvent: (event: TaskEvent) => void = () => undefined): Promise<RunRecord> {
    const { card } = task;
    const settings = this.options.settings;
    const models = await this.options.gateway.models();
    const runId = `run-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}-${randomBytes(3).toString("hex")}`;
    const model = chooseModel(card, { mode: "task", model: task.model, models }) ?? null;
    const run: RunRecord = {
      run_id: runId, agent_id: card.agent_id, state: "queued", prompt: task.prompt, model, ...(task.role ? { role: task.role.name } : {}), ...(task.candidate ? { candidate: task.candidate } : {}), outcome: null, summary: null, questions: [], recovered: false,
      attempts: [], error: null, changed_files: [], input_tokens: 0, output_tokens: 0, requests: 0, duration_ms: null, conversation: "", created_at: new Date().toISOString(), ended_at: null,
    };
    await this.options.store.saveRun(run);
    const log = (fields: Record<string, unknown>) => this.options.log?.({ agent_id: card.agent_id, run_id: runId, ...fields });
    const slots = model ? this.options.gateway.slots(model) : undefined;
    const size = settings.tasks_per_deployment ?? slots?.size ?? Number.POSITIVE_INFINITY;
    const releaseAgent = await this.agents.acquire(card.agent_id, 1, (position) => onEvent({ type: "queued", run_id: runId, position, pool: `agent ${card.agent_id}` }));
    const releaseSlot = await this.pool.acquire(slots?.key ?? "default", size, (position) => {
      log({ msg: "task queued: the upstream is busy", pool: slots?.key, position });
      onEvent({ type: "queued", run_id: runId, position, pool: slots?.key ?? "default" });
    });
    const started = performance.now();
    const structurerModel = settings.structurer_model ?? model ?? undefined;
    let key: string | undefined;
    let egressAttached = false;
    let session: InspectionSession | undefined;
    let sessionOpened: Promise<unknown> | undefined;
    try {
      run.state = "running";
      await this.options.store.saveRun(run);
      const { place } = task;
      const workspace: WorkspaceRef = place?.workspace ?? resolve(task.workspace ?? card.workspace);
      // What the attempts' sandboxes mount: a host folder (a place has its own).
      const hostWorkspace = typeof workspace === "string" ? workspace : undefined;
      // Asked while the task is set up: an agent started against a server that takes no connections would only retry it.
      const unreachable = model ? this.options.gateway.unreachable(model) : Promise.resolve(undefined);
      // The snapshot before the task is read while the key and the exits are set up; the agent starts only after it.
      // Its inspection sandbox stays for the snapshot after the task, which then costs only what git costs.
      const opening = hostWorkspace ? openSnapshotSession(hostWorkspace, this.options.paths).then((s) => (session = s), () => undefined) : Promise.resolve(undefined);
      sessionOpened = opening;
      const snapshot = opening.then((s) => workspaceState(workspace, this.options.paths, s));
      snapshot.catch(() => undefined);
      key = await this.options.gateway.mintTask(card.agent_id, runId, [...new Set([model, structurerModel, card.small_model].filter((m): m is string => !!m))], cardBudget(card));
      let egress: EgressAttachment | undefined;
      if (card.allowed_hosts.length > 0 && !place) {
        if (!this.options.egress) throw new PaddockError("egress_unavailable", "this card has allowed_hosts, and no egress proxy runs here", "allowed_hosts");
        // A task of a running agent (an A2A worker) goes out as that agent, through its socket (and with its CA and placeholders).
        egress = this.options.egress.attachmentOf(card.agent_id);
        if (!egress) {
          egress = await this.options.egress.attach(card.agent_id, card);
          egressAttached = true;
        }
      }
      const before: WorkspaceState = await snapshot;
      const down = await unreachable;
      const contract = down
        ? this.unreachableFailure(run, down, log)
        : await this.attempts(task, run, { key, models, model, structurerModel, hostWorkspace, egress }, onEvent, log);
      if (contract) Object.assign(run, outcomeOf(contract));
      if (task.verify) await this.verify(task, task.verify, run, { key, models, model, structurerModel, hostWorkspace, egress }, onEvent, log);
      const after = await workspaceState(workspace, this.options.paths, session);
      run.changed_files = changedFiles(before, after);
      if (run.changed_files.length > 0) {
        const diff = await workspaceDiff(workspace, { maxBytes: RUN_DIFF_MAX_BYTES, paths: this.options.paths }).catch(() => undefined);
        if (diff) run.diff = { text: diff.diff, truncated: diff.truncated };
      }
      const notes = [...new Set([...before.notes, ...after.notes])];
      if (notes.length) {
        run.workspace_notes = notes;
        log({ level: "warn", msg: "the workspace could not be read in full", notes });
      }
    } catch (err) {
      run.outcome = "ERROR";
      run.error ??= err instanceof PaddockError ? { category: "Setup", message: err.describe(), hint: err.hint ?? "" } : { category: "Setup", message: (err as Error).message, hint: "" };
    } finally {
      // Also when the task failed before its first snapshot: the session may still be opening.
      await sessionOpened;
      await session?.close().catch(() => undefined);
      if (egressAttached) await this.options.egress?.detach(card.agent_id);
      if (key) {
        Object.assign(run, await this.options.gateway.usage(key).catch(() => ({})));
        await this.options.gateway.revokeKey(key).catch(() => undefined);
      }
      releaseSlot();
      releaseAgent();
    }
    Object.assign(run, { state: "finished", duration_ms: Math.round(performance.now() - started), ended_at: new Date().toISOString() });
    run.summary ??= run.error?.message ?? null;
    await this.options.store.saveRun(run);
    log({ msg: "task finished", outcome: run.outcome, recovered: run.recovered, attempts: run.attempts.length, duration_ms: run.duration_ms, error: run.error?.category });
    onEvent({ type: "finished", run_id: runId, run });
    return run;
  }

  /** The attempt loop; returns the contract, or undefined with `run.error` set. */
  private async attempts(
    task: TaskRequest,
    run: RunRecord,
    ctx: { key: string; models: Awaited<ReturnType<AgentGatewayAccess["models"]>>; model: string | null; structurerModel?: string; hostWorkspace?: string; egress?: EgressAttachment },
    onEvent: (event: TaskEvent) => void,
    log: (fields: Record<string, unknown>) => void,
  ): Promise<Contract | undefined> {
    const settings = this.options.settings;
    const fail = (category: string, message: string, hint: string) => {
      run.outcome = "ERROR";
      run.error = { category, message, hint };
      return undefined;
    };
    for (let attempt = 1; attempt <= settings.max_retries + 1; attempt++) {
      onEvent({ type: "attempt", run_id: run.run_id, attempt });
      const sections = task.role?.sections ?? [];
      const mode = resultMode(task.card.contract, sections);
      const launch = agentLaunch(task.card, { mode: "task", prompt: mode.prompt(task.prompt, attempt), model: ctx.model ?? undefined, models: ctx.models, key: ctx.key, systemPrompt: task.role?.systemPrompt, resultSchema: mode.resultSchema });
      const progress = mode.progress();
      const startedAt = new Date().toISOString();
      const result = await runAttempt({
        card: task.card,
        launch,
        place: task.place,
        workspace: ctx.hostWorkspace,
        egress: ctx.egress,
        gateway: { socket: this.options.gateway.socket, key: ctx.key },
        paths: this.options.paths,
        timeoutMs: settings.timeout_seconds * 1000,
        inactivityMs: settings.inactivity_timeout_seconds === null ? null : settings.inactivity_timeout_seconds * 1000,
        signal: task.signal,
        allowUnconfinedSeccomp: task.allowUnconfinedSeccomp,
        onOutput: (stream, chunk) => {
          const text = stream === "stdout" ? progress(chunk) : chunk;
          if (text) onEvent({ type: "output", run_id: run.run_id, stream, text });
        },
        watchUpstream: (onFailure) => this.options.gateway.watchUpstreamFailures(ctx.key, onFailure),
      });
      const output = mode.read(result.stdout);
      const record = (outcome: string) => {
        run.attempts.push({ started_at: startedAt, duration_ms: result.exit.durationMs, exit: { ...result.exit }, result: outcome, stdout_bytes: Buffer.byteLength(result.stdout) });
        run.conversation += `--- attempt ${attempt} (${outcome}) ---\n${output.transcript}${result.stderr ? `\n--- stderr ---\n${result.stderr}` : ""}\n`;
      };
      if (result.ended) {
        record(result.ended);
        return this.ended(result, settings, fail);
      }
      const contract = output.contract;
      const missing = contract ? missingSections(contract, sections) : [];
      if (contract && missing.length === 0) {
        record("parsed");
        return contract;
      }
      if (contract) {
        // A result without the role's sections is asked for again, like one that could not be read.
        record(`incomplete (no ${missing.join(", ")})`);
        if (attempt === settings.max_retries + 1) return fail("Contract", `the result lacks the sections the role ${task.role?.name} asks for: ${missing.join(", ")}`, "see the agent's output: paddock runs RUN_ID --conversation; the role's system prompt may need to ask for them");
        continue;
      }
      const diagnosis = diagnose(`${result.stderr}\n${output.transcript}`);
      if (diagnosis?.fatal) {
        record("fatal");
        log({ level: "warn", msg: "fatal failure: no retry", category: diagnosis.category, evidence: diagnosis.evidence });
        return fail(diagnosis.category, diagnosis.sentence, diagnosis.hint);
      }
      record(diagnosis ? `unparsed (${diagnosis.category})` : "unparsed");
      if (attempt === 1 && settings.structurer && ctx.structurerModel && output.transcript.trim()) {
        onEvent({ type: "structurer", run_id: run.run_id, model: ctx.structurerModel });
        log({ msg: "invoking the structurer", model: ctx.structurerModel });
        const structured = await structure({ socket: this.options.gateway.socket, key: ctx.key, model: ctx.structurerModel, narrative: output.transcript, timeoutMs: settings.structurer_timeout_seconds * 1000 });
        run.conversation += `--- structurer (${ctx.structurerModel}) ---\n${structured.reply}\n`;
        if (structured.contract && missingSections(structured.contract, sections).length === 0) {
          log({ msg: "structurer recovered the result", outcome: structured.contract.outcome });
          run.conversation += "Recovered via the structurer.\n";
          run.recovered = true;
          return structured.contract;
        }
        log({ msg: "structurer found no result: retrying" });
      }
      if (attempt === settings.max_retries + 1) {
        return diagnosis
          ? fail(diagnosis.category, diagnosis.sentence, diagnosis.hint)
          : fail("Contract", `no readable result after ${attempt} attempt(s): the output did not end with the JSON contract`, "see the agent's output: paddock runs RUN_ID --conversation; a model that ignores the instruction may need a stricter system prompt or another model");
      }
    }
    return undefined;
  }

  /**
   * After a COMPLETE: the task's verification, and on failure up to `retries` more attempts given its output; a
   * COMPLETE whose verification still fails becomes an ERROR with that output as the hint.
   */
  private async verify(task: TaskRequest, verify: NonNullable<TaskRequest["verify"]>, run: RunRecord, ctx: Parameters<Executor["attempts"]>[2], onEvent: (event: TaskEvent) => void, log: (fields: Record<string, unknown>) => void): Promise<void> {
    for (let round = 0; run.outcome === "COMPLETE"; round++) {
      onEvent({ type: "verification", run_id: run.run_id, command: verify.command });
      const verification = await verifyTask({ card: task.card, place: task.place, command: verify.command, workspace: ctx.hostWorkspace, paths: this.options.paths, timeoutMs: this.options.settings.timeout_seconds * 1000, signal: task.signal, allowUnconfinedSeccomp: task.allowUnconfinedSeccomp });
      (run.verifications ??= []).push(verification);
      onEvent({ type: "verification", run_id: run.run_id, command: verify.command, passed: verification.passed, exit_code: verification.exit_code });
      log({ msg: verification.passed ? "verification passed" : "verification failed", command: verify.command, exit_code: verification.exit_code, duration_ms: verification.duration_ms });
      if (verification.passed) return;
      if (round === verify.retries) {
        run.outcome = "ERROR";
        run.error = { category: "Verification", message: `the agent reported COMPLETE, but \`${verify.command}\` ${verification.timed_out ? "ran out of time" : `exited with ${verification.exit_code ?? "a signal"}`}`, hint: verification.output_tail };
        return;
      }
      const contract = await this.attempts({ ...task, prompt: afterFailedVerification(task.prompt, verification) }, run, ctx, onEvent, log);
      if (contract) Object.assign(run, outcomeOf(contract));
    }
  }

  private unreachableFailure(run: RunRecord, why: string, log: (fields: Record<string, unknown>) => void): undefined {
    log({ msg: "the model server takes no connections: the agent is not started", error: why });
    run.outcome = "ERROR";
    run.error = modelServerDown(why);
    return undefined;
  }

  private ended(result: AttemptResult, settings: ExecutorSettings, fail: (c: string, m: string, h: string) => undefined): undefined {
    if (result.ended === "timeout") return fail("Timeout", `the attempt ran for ${settings.timeout_seconds} s (executor.timeout_seconds) and was ended`, "raise executor.timeout_seconds, or split the task");
    if (result.ended === "inactive") {
      return fail("Timeout", `the agent printed nothing for ${settings.inactivity_timeout_seconds} s (executor.inactivity_timeout_seconds) and was ended`, "the model server may be stuck or very slow: check it, or raise executor.inactivity_timeout_seconds");
    }
    if (result.ended === "upstream") {
      const { category, message, hint } = modelServerDown(result.upstreamError ?? "");
      return fail(category, message, hint);
    }
    return fail("Cancelled", "the task was cancelled", "");
  }
}

/** What a run takes from its contract: the outcome, the summary, the questions, and a role's sections. */
function outcomeOf(contract: Contract): Pick<RunRecord, "outcome" | "summary" | "questions" | "sections"> {
  const sections = typeof contract.sections === "object" && contract.sections !== null ? (contract.sections as Record<string, unknown>) : undefined;
  return {
    outcome: contract.outcome,
    summary: contract.summary,
    questions: contract.questions ?? [],
    ...(sections ? { sections: Object.fromEntries(Object.entries(sections).filter((e): e is [string, string] => typeof e[1] === "string")) } : {}),
  };
}

/** The failure paddock reports itself when no model server answers (before the agent starts, or as the gateway saw it). */
function modelServerDown(why: string): { category: "Network"; message: string; hint: string } {
  return { category: "Network", message: `the model server did not answer: ${why}`, hint: hintFor("Network") };
}
