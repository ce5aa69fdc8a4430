import { randomUUID } from "node:crypto";
import { Role, TaskState } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, type Client } from "@a2a-js/sdk/client";
import { textPart } from "./card.js";

/** An A2A client (the SDK's own) for a paddock worker, sending its bearer token on every call. */
export async function workerClient(url: string, token: string): Promise<Client> {
  const fetchImpl: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl })] }));
  return factory.createFromUrl(url);
}

/** How a task sent to a worker ended, from its final status and its result artifact. */
export interface TaskOutcome {
  /** A2A's state name: completed, input-required, failed, canceled. */
  state: string;
  summary: string;
  changed_files: Array<{ path: string; status: string }>;
  run_id: string | null;
}

/**
 * Sends one task to a worker over A2A (streaming) and follows it to its end,
 * reporting each status (with its text) as it comes; aborting the signal
 * cancels the task on the worker.
 */
export async function sendTask(client: Client, prompt: string, options: { signal?: AbortSignal; onEvent?: (event: { state: string; text?: string }) => void } = {}): Promise<TaskOutcome> {
  const onEvent = options.onEvent ?? (() => undefined);
  let taskId = "";
  let state = "submitted";
  let summary = "";
  let result: { summary?: string; changed_files?: TaskOutcome["changed_files"]; run_id?: string } = {};
  const onAbort = () => void (taskId && client.cancelTask({ tenant: "", id: taskId, metadata: {} }).catch(() => undefined));
  options.signal?.addEventListener("abort", onAbort);
  try {
    const stream = client.sendMessageStream({
      tenant: "",
      metadata: {},
      message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [textPart(prompt)], taskId: "", contextId: "", extensions: [], metadata: {}, referenceTaskIds: [] },
      configuration: undefined,
    });
    for await (const event of stream) {
      const payload = event.payload;
      if (payload?.$case === "task") {
        taskId = payload.value.id;
        onEvent({ state: "submitted" });
        // Cancelled before the worker had named the task: cancel it now.
        if (options.signal?.aborted) onAbort();
      } else if (payload?.$case === "statusUpdate") {
        state = stateName(payload.value.status?.state);
        const part = payload.value.status?.message?.parts[0]?.content;
        const text = part?.$case === "text" ? part.value : undefined;
        if (state !== "working") summary = text ?? summary;
        onEvent({ state, text });
      } else if (payload?.$case === "artifactUpdate" && payload.value.artifact?.name === "result") {
        const data = payload.value.artifact.parts[0]?.content;
        if (data?.$case === "data") result = data.value as typeof result;
      }
    }
  } catch (err) {
    state = "failed";
    summary = `the worker could not be reached: ${(err as Error).message}`;
    onEvent({ state, text: summary });
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return { state, summary: result.summary ?? summary, changed_files: result.changed_files ?? [], run_id: result.run_id ?? null };
}

/** completed, failed, canceled, input-required, working, submitted: A2A's state names. */
function stateName(state: TaskState | undefined): string {
  return state === undefined ? "unknown" : TaskState[state].replace(/^TASK_STATE_/, "").toLowerCase().replace(/_/g, "-");
}
