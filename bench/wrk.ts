import { execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
}

export interface WrkRequest {
  url: string;
  /** Lines of wrk's Lua setup (method, body, headers), written to this file. */
  script: { file: string; lines: string[] };
  connections: number;
  seconds: number;
}

/** One wrk run (one thread, as the peers are measured alike), after a one-second warm-up of the same request. */
export async function wrk(req: WrkRequest): Promise<WrkResult> {
  writeFileSync(req.script.file, `${req.script.lines.join("\n")}\n`);
  const args = ["-t1", `-c${req.connections}`, "--latency", "-s", req.script.file, req.url];
  await run("wrk", [...args.slice(0, 1), "-d1s", ...args.slice(1)]);
  const { stdout } = await run("wrk", [...args.slice(0, 1), `-d${req.seconds}s`, ...args.slice(1)]);
  return parseWrk(stdout);
}

/** A Lua string literal for wrk's scripts. */
export function lua(text: string): string {
  return JSON.stringify(text);
}

function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const pct = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) throw new Error(`no ${p}% in wrk output:\n${out}`);
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]!;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  if (errors) throw new Error(`wrk saw ${errors} error responses:\n${out}`);
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  if (socketErrors && /timeout [1-9]/.test(socketErrors)) throw new Error(`wrk saw timeouts (${socketErrors}):\n${out}`);
  return { rps, p50: pct("50"), p99: pct("99") };
}

/** The peers' paths and versions, installed (once, cached) by .ci/bench-peers, whose progress shows as it goes. */
export function benchPeers(root: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [`${root}/.ci/bench-peers`], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`.ci/bench-peers exited ${code}`));
      resolve(Object.fromEntries(out.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)])));
    });
  });
}
