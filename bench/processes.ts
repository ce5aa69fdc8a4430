import { spawn, type ChildProcess } from "node:child_process";

/** Starts a helper process and returns it with the first line it prints (e.g. a port). */
export function startPrinting(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve({ child, line: out.slice(0, nl).trim() });
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`${argv.join(" ")} exited ${code} before it was ready`)));
  });
}

export function startQuiet(argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(argv[0]!, argv.slice(1), { env, stdio: "ignore" });
}
