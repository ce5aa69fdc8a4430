/** The dashboard's calls to the daemon: reads, and changes with the session's CSRF token. */

export interface ApiError {
  code: string;
  message: string;
  where?: string;
  hint?: string;
  problems?: Array<{ file: string; line?: number; field: string; message: string }>;
}

export class RequestFailed extends Error {
  constructor(readonly status: number, readonly error: ApiError) {
    super(error.message);
  }
}

let session: Promise<{ csrf: string; gateway: boolean; cards_dir: string | null }> | undefined;

/** The session's CSRF token, asked for once: reads do not wait for it, changes do. */
export function startSession(): Promise<{ csrf: string; gateway: boolean; cards_dir: string | null }> {
  session ??= get("/api/session");
  return session;
}

async function parse<T>(res: Response): Promise<T> {
  if (res.status === 401) {
    location.assign("/login");
    throw new RequestFailed(401, { code: "unauthorized", message: "logged out" });
  }
  const value = (await res.json()) as T & { error?: ApiError };
  if (!res.ok) throw new RequestFailed(res.status, value.error ?? { code: "unknown", message: res.statusText });
  return value;
}

export async function get<T>(path: string): Promise<T> {
  return parse<T>(await fetch(path, { credentials: "same-origin" }));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const { csrf } = await startSession();
  return parse<T>(await fetch(path, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) }));
}

/** A problem as one line a person reads: where, what. */
export function describe(err: unknown): string[] {
  if (!(err instanceof RequestFailed)) return [String((err as Error).message ?? err)];
  const { error } = err;
  if (error.problems?.length) return error.problems.map((p) => `${p.file}${p.line ? `:${p.line}` : ""}: ${p.field ? `${p.field}: ` : ""}${p.message}`);
  return [`${error.where ? `${error.where}: ` : ""}${error.message}${error.hint ? ` (${error.hint})` : ""}`];
}
