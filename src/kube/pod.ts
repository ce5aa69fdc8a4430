import type { Card } from "../card/index.js";
import type { Launch } from "./launch.js";
import { NAMESPACES, PORTS } from "./names.js";
import { LAUNCH_ANNOTATION } from "./seal.js";
import { restrictedContainer } from "./system.js";

type Manifest = Record<string, any>;

/** Labels and annotations paddock puts on what it makes for an agent; the egress proxy reads the annotations. */
export const LABELS = { agent: "paddock.dev/agent-id", managedBy: "app.kubernetes.io/managed-by" } as const;
export const ANNOTATIONS = { egressToken: "paddock.dev/egress-token-sha256", allowedHosts: "paddock.dev/allowed-hosts" } as const;

/** The image each kind of agent runs in (made by the Containerfiles in images/); `--agent-image KIND=REF` overrides one. */
export function defaultAgentImages(version: string): Record<Card["kind"], string> {
  return { command: `paddock-agent:${version}`, opencode: `paddock-agent-opencode:${version}`, "claude-code": `paddock-agent-claude-code:${version}` };
}

export interface AgentPodOptions {
  id: string;
  /** The object's name (the agent's id and a per-launch suffix, so a restart never meets its predecessor). */
  name: string;
  namespace: string;
  image: string;
  /** argv, environment and HOME files from the agent's adapter. */
  launch: { command: string[]; env: Record<string, string>; homeFiles: Record<string, string> };
  /** The agent's gateway key and egress token: in a Secret that only this pod mounts. */
  gatewayKey?: string;
  egressToken?: string;
  egressTokenSha256?: string;
  /** Every agent under this RuntimeClass (the gvisor overlay), whatever its card says. */
  runtimeClass?: string;
}

const HOME = "/home/agent";
const SECRET_DIR = "/etc/paddock/agent";
const LAUNCH_DIR = "/etc/paddock/launch";
/** Where a warm pod's waiter is in the agent images (images/agent.Containerfile copies it there). */
export const WARM_START = ["node", "/opt/paddock/lib/kube/warm-start.js"];
/** paddock's task launcher beside it, run through exec; $PADDOCK_LIB where a runtime keeps paddock's files elsewhere. */
export const TASK_START = ["sh", "-c", 'exec node "${PADDOCK_LIB:-/opt/paddock/lib}/kube/task-start.js"'];
/** Labels of what paddock keeps warm: the pool a pod belongs to, and the card a pool is for. */
export const WARM_LABELS = { pool: "paddock.dev/warm-pool", card: "paddock.dev/card" } as const;

const BASE_ENV = { HOME, USER: "agent", LOGNAME: "agent", SHELL: "/bin/sh", TERM: "dumb", LANG: "C.UTF-8", TMPDIR: "/tmp" };
const GATEWAY = `http://paddock-gateway.${NAMESPACES.system}.svc:${PORTS.gateway}`;
const PROXIED = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
const NO_PROXY = "localhost,127.0.0.1,::1";

type EnvEntry = { name: string; value: string } | { name: string; secret: "gateway-key" | "egress-token" };

/**
 * An agent's environment: its adapter's and its card's, the gateway's URLs and key, and the proxy with its token.
 * `proxyToken` is how the token appears in the proxy's URL: the value itself, or a reference the kubelet expands.
 */
function agentEnvironment(card: Card, options: Pick<AgentPodOptions, "id" | "launch" | "gatewayKey" | "egressToken">, proxyToken: string): EnvEntry[] {
  return [
    ...Object.entries({ AGENT_ID: options.id, ...options.launch.env, ...card.environment }).map(([name, value]) => ({ name, value })),
    ...(options.gatewayKey
      ? [{ name: "OPENAI_API_KEY", secret: "gateway-key" as const }, { name: "ANTHROPIC_API_KEY", secret: "gateway-key" as const }, ...Object.entries({ PADDOCK_GATEWAY_URL: GATEWAY, OPENAI_BASE_URL: `${GATEWAY}/v1`, ANTHROPIC_BASE_URL: GATEWAY }).map(([name, value]) => ({ name, value }))]
      : []),
    ...proxyEnvironment(options, proxyToken),
  ];
}

/** The egress proxy's variables, with the agent's token: the proxy knows the agent by it and by its pod's address (the token alone, copied elsewhere, is refused). */
function proxyEnvironment(options: Pick<AgentPodOptions, "id" | "egressToken">, proxyToken: string): EnvEntry[] {
  if (!options.egressToken) return [];
  const proxy = `http://${options.id}:${proxyToken}@paddock-egress.${NAMESPACES.system}.svc:${PORTS.egress}`;
  return [{ name: "PADDOCK_EGRESS_TOKEN", secret: "egress-token" }, ...PROXIED.map((name) => ({ name, value: proxy })), { name: "NO_PROXY", value: NO_PROXY }, { name: "no_proxy", value: NO_PROXY }];
}

/**
 * The pod every agent runs in, cold or warm. It meets Pod Security `restricted` (not root, read-only root, no
 * capability, RuntimeDefault seccomp, no privilege escalation, no API token); the card's limits become resources, its
 * TTL `activeDeadlineSeconds`, `backend: gvisor` the gvisor RuntimeClass. HOME and /tmp are emptyDir volumes, and so
 * is the workspace unless the card names a claim for it: what the agent makes leaves through git and the gateway.
 */
function podManifest(card: Card, options: { image: string; runtimeClass?: string; metadata: Manifest; agent: Manifest; initContainers?: Manifest[]; volumes?: Manifest[]; mounts?: Manifest[]; deadline: boolean; workspace?: Manifest }): Manifest {
  const volumeMounts: Manifest[] = [
    { name: "workspace", mountPath: "/workspace" },
    { name: "home", mountPath: HOME },
    { name: "tmp", mountPath: "/tmp" },
  ];
  return {
    metadata: options.metadata,
    spec: {
      serviceAccountName: "paddock-agent",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: "Never",
      ...(options.deadline && card.ttl_seconds > 0 ? { activeDeadlineSeconds: card.ttl_seconds } : {}),
      ...(options.runtimeClass || card.backend === "gvisor" ? { runtimeClassName: options.runtimeClass ?? "gvisor" } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
      ...(options.initContainers ? { initContainers: options.initContainers.map((c) => ({ image: options.image, workingDir: "/workspace", securityContext: restrictedContainer(), ...c, volumeMounts: [...volumeMounts, ...(c.volumeMounts ?? [])] })) } : {}),
      containers: [
        {
          name: "agent",
          image: options.image,
          workingDir: `/workspace${card.workdir ? `/${card.workdir}` : ""}`,
          securityContext: restrictedContainer(),
          ...options.agent,
          volumeMounts: [...volumeMounts, ...(options.mounts ?? [])],
          resources: {
            requests: { cpu: `${Math.max(1, Math.round((card.resource_limits.cpu_shares * 1000) / 1024))}m`, memory: `${card.resource_limits.memory_mb}Mi` },
            limits: { memory: `${card.resource_limits.memory_mb}Mi` },
          },
        },
      ],
      volumes: [{ name: "workspace", ...(options.workspace ?? { emptyDir: {} }) }, { name: "home", emptyDir: {} }, { name: "tmp", emptyDir: {} }, ...(options.volumes ?? [])],
    },
  };
}

/** An agent's own pod and its Secret (its gateway key, egress token and HOME files), which only this pod mounts. */
export function agentPod(card: Card, options: AgentPodOptions): { pod: Manifest; secret: Manifest } {
  const labels = { [LABELS.agent]: options.id, [LABELS.managedBy]: "paddock" };
  const secretName = `${options.name}-secret`;
  const secretData: Record<string, string> = {
    ...(options.gatewayKey ? { "gateway-key": options.gatewayKey } : {}),
    ...(options.egressToken ? { "egress-token": options.egressToken } : {}),
    ...Object.fromEntries(Object.entries(options.launch.homeFiles).map(([file, content], i) => [`home-${i}`, content])),
  };
  const homeItems = Object.keys(options.launch.homeFiles).map((file, i) => ({ key: `home-${i}`, path: file, mode: 0o400 }));
  const resolve = (entries: EnvEntry[]) => entries.map((e) => ("secret" in e ? { name: e.name, valueFrom: { secretKeyRef: { name: secretName, key: e.secret } } } : e));
  const base = Object.entries(BASE_ENV).map(([name, value]) => ({ name, value }));
  const env = resolve([...base, ...agentEnvironment(card, options, "$(PADDOCK_EGRESS_TOKEN)")]);
  const workspace = card.cluster?.workspace;
  const initContainers: Manifest[] = [];
  // The adapter's HOME files (configs, keys) are copied into the writable HOME, as on one machine.
  if (homeItems.length) initContainers.push({ name: "home", command: ["sh", "-c", `cp -R ${SECRET_DIR}/home/. ${HOME}/`], volumeMounts: [{ name: "agent-secret", mountPath: `${SECRET_DIR}/home`, readOnly: true }] });
  // The repository is cloned by the agent's image, as the agent, through the egress proxy, before the agent starts.
  if (workspace?.git) {
    initContainers.push({
      name: "workspace",
      command: ["git", "clone", "--depth", "1", ...(workspace.ref ? ["--branch", workspace.ref] : []), "--", workspace.git, "/workspace"],
      env: resolve([...base, { name: "GIT_TERMINAL_PROMPT", value: "0" }, ...proxyEnvironment(options, "$(PADDOCK_EGRESS_TOKEN)")]),
    });
  }
  const pod = podManifest(card, {
    image: options.image,
    runtimeClass: options.runtimeClass,
    metadata: {
      name: options.name,
      namespace: options.namespace,
      labels,
      annotations: {
        ...(options.egressTokenSha256 ? { [ANNOTATIONS.egressToken]: options.egressTokenSha256 } : {}),
        [ANNOTATIONS.allowedHosts]: JSON.stringify(card.allowed_hosts),
      },
    },
    agent: { command: options.launch.command, env },
    deadline: true,
    ...(initContainers.length ? { initContainers } : {}),
    ...(homeItems.length ? { volumes: [{ name: "agent-secret", secret: { secretName, items: homeItems, defaultMode: 0o400 } }] } : {}),
    ...(workspace?.pvc ? { workspace: { persistentVolumeClaim: { claimName: workspace.pvc } } } : {}),
  });
  const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: secretName, namespace: options.namespace, labels }, type: "Opaque", stringData: secretData };
  return { pod, secret };
}

/**
 * The pod a warm pool keeps ready for a card: the card's image, limits and RuntimeClass, running paddock's waiter
 * instead of the agent. Nothing in it is an agent's: its id, key, token and HOME files come sealed to the pod's own
 * key once it is claimed (see warm-start.ts), through an annotation the downward API projects into a file.
 */
export function warmPod(card: Card, options: { pool: string; image: string; runtimeClass?: string }): Manifest {
  return podManifest(card, {
    image: options.image,
    runtimeClass: options.runtimeClass,
    metadata: { labels: { [LABELS.managedBy]: "paddock", [WARM_LABELS.pool]: options.pool }, annotations: { [ANNOTATIONS.allowedHosts]: JSON.stringify(card.allowed_hosts) } },
    // A warm pod's clock would run before its agent's: the claim's shutdownTime, and paddock, keep the agent's TTL.
    deadline: false,
    agent: { command: WARM_START, env: Object.entries({ ...BASE_ENV, PADDOCK_LAUNCH_FILE: `${LAUNCH_DIR}/sealed` }).map(([name, value]) => ({ name, value })) },
    mounts: [{ name: "launch", mountPath: LAUNCH_DIR, readOnly: true }],
    volumes: [{ name: "launch", downwardAPI: { items: [{ path: "sealed", fieldRef: { fieldPath: `metadata.annotations['${LAUNCH_ANNOTATION}']` } }], defaultMode: 0o400 } }],
  });
}

/**
 * An agent's launch with its environment written out: the argv, environment and HOME files a cold pod has in its
 * spec and Secret. A claimed warm pod gets it sealed; an A2A worker's task gets it through exec, with the task's key.
 */
export function podLaunch(card: Card, options: Pick<AgentPodOptions, "id" | "launch" | "gatewayKey" | "egressToken">): Launch {
  const secrets = { "gateway-key": options.gatewayKey ?? "", "egress-token": options.egressToken ?? "" };
  const env = Object.fromEntries(agentEnvironment(card, options, options.egressToken ?? "").map((e) => [e.name, "secret" in e ? secrets[e.secret] : e.value]));
  return { argv: options.launch.command, env: { ...BASE_ENV, ...env }, files: options.launch.homeFiles };
}
