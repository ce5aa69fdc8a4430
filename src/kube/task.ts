import type { Card } from "../card/index.js";
import type { TaskPlace } from "../executor/index.js";
import type { PodPlace } from "./attach.js";
import type { KubeClients } from "./client.js";
import { PodCommand } from "./exec.js";
import { podLaunch, TASK_START } from "./pod.js";

/**
 * paddock's scripts over a pod's workspace run with nothing of the agent's environment but PATH (git reads no config
 * of its HOME), and the pod ends them at their time (`timeout -s KILL`) even if the stream to them is lost. Their
 * input is exactly $1 bytes: the end of an exec's stdin does not reach the command on every runtime.
 */
const INSPECT = 'n=$1 t=$2; shift 2; head -c "$n" | env -i PATH="$PATH" LC_ALL=C GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 HOME=/nonexistent PADDOCK_WORKSPACE="${PADDOCK_WORKSPACE:-/workspace}" timeout -s KILL "$t" "$@"';
/** How much longer than the controller's own timeout a task may run in its pod, when the controller is gone. */
const POD_DEADLINE_SLACK_MS = 30_000;

/**
 * Where an A2A worker's tasks run on a cluster: in its own pod, through pods/exec. An attempt is paddock's task
 * launcher (task-start.ts) given the agent's launch with the task's own gateway key and the worker's egress token, so
 * the exits know it as the worker (its pod's address and token); a verification gets neither key nor token. The
 * workspace is read by paddock's inspection scripts run in the pod: the agent's own sandbox, never this host.
 */
export function podTaskPlace(clients: KubeClients, pod: PodPlace, card: Card, id: string, egressToken: string | undefined): TaskPlace {
  const started = async (command: PodCommand): Promise<PodCommand> => {
    await command.start();
    return command;
  };
  return {
    workspace: {
      where: `pod ${pod.name}`,
      async inspect(argv, timeoutMs, input) {
        const command = await started(new PodCommand(clients, pod, ["sh", "-c", INSPECT, "paddock-inspect", String(input.length), String(Math.ceil(timeoutMs / 1000)), ...argv], card.backend));
        command.write(input);
        return command;
      },
    },
    async start(launch, { gatewayKey, timeoutMs }) {
      const command = await started(new PodCommand(clients, pod, TASK_START, card.backend));
      const task = podLaunch(card, { id, launch, gatewayKey, egressToken: gatewayKey ? egressToken : undefined });
      command.write(`${JSON.stringify({ ...task, timeout_ms: timeoutMs + POD_DEADLINE_SLACK_MS })}\n`);
      return command;
    },
  };
}
