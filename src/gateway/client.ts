import { request } from "node:http";

/**
 * One chat completion from a gateway on a unix socket (paddock's own callers:
 * the structurer, the captain's planner), with the caller's key. Returns the
 * reply's text, or throws with the gateway's status and message.
 */
export async function gatewayChat(options: { socket: string; key: string; body: Record<string, unknown>; timeoutMs: number }): Promise<string> {
  const body = JSON.stringify(options.body);
  const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { socketPath: options.socket, path: "/v1/chat/completions", method: "POST", timeout: options.timeoutMs, headers: { "content-type": "application/json", authorization: `Bearer ${options.key}`, "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`the model took more than ${options.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${response.text.slice(0, 500)}`);
  return String((JSON.parse(response.text) as { choices?: Array<{ message?: { content?: string } }> }).choices?.[0]?.message?.content ?? "");
}
