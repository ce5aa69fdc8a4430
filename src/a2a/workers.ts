import type { Card } from "../card/index.js";
import type { Executor, TaskPlace } from "../executor/index.js";
import { startWorkerServer, type WorkerServer } from "./server.js";

/**
 * The A2A servers of the daemon's agents: one per agent exposed as a worker, closed when the agent ends. `placeOf`,
 * where given, says where an agent's tasks run (its pod, on a cluster); otherwise in fresh sandboxes on this host.
 */
export class A2AWorkers {
  private readonly servers = new Map<string, WorkerServer>();

  constructor(
    private readonly executor: Executor,
    private readonly placeOf?: (agentId: string, card: Card) => Promise<TaskPlace>,
    private readonly host = "127.0.0.1",
  ) {}

  async open(agentId: string, card: Card): Promise<{ url: string; token: string }> {
    await this.close(agentId);
    const placeOf = this.placeOf;
    const place = placeOf && (() => placeOf(agentId, card));
    const server = await startWorkerServer({ card: { ...card, agent_id: agentId }, executor: this.executor, place, host: this.host, port: card.a2a_port });
    this.servers.set(agentId, server);
    return { url: server.url, token: server.token };
  }

  get(agentId: string): { url: string; token: string } | undefined {
    const server = this.servers.get(agentId);
    return server && { url: server.url, token: server.token };
  }

  async close(agentId: string): Promise<void> {
    const server = this.servers.get(agentId);
    this.servers.delete(agentId);
    await server?.close();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.close(id)));
  }
}
