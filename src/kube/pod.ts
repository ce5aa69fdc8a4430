import type { Card } from "../card/index.js";
import { NAMESPACES, PORTS } from "./names.js";
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

/**
 * An agent's pod and its Secret. The pod meets Pod Security `restricted` (not root, read-only root, no capability,
 * RuntimeDefault seccomp, no privilege escalation, no API token); the card's limits become resources, its TTL
 * `activeDeadlineSeconds`, `backend: gvisor` the gvisor RuntimeClass. The workspace and HOME are volumes of the pod
 * (emptyDir): what the agent makes leaves through git and the gateway, as on one machine.
 */
export function agentPod(card: Card, options: AgentPodOptions): { pod: Manifest; secret: Manifest } {
  const labels = { [LABELS.agent]: options.id, [LABELS.managedBy]: "paddock" };
  const secretName = `${options.name}-secret`;
  const secretData: Record<string, string> = {
    ...(options.gatewayKey ? { "gateway-key": options.gatewayKey } : {}),
    ...(options.egressToken ? { "egress-token": options.egressToken } : {}),
    ...Object.fromEntries(Object.entries(options.launch.homeFiles).map(([file, content], i) => [`home-${i}`, content])),
  };
  const fromSecret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secretName, key } } });
  const gateway = `http://paddock-gateway.${NAMESPACES.system}.svc:${PORTS.gateway}`;
  const proxy = `http://${options.id}:$(PADDOCK_EGRESS_TOKEN)@paddock-egress.${NAMESPACES.system}.svc:${PORTS.egress}`;
  const env = [
    ...Object.entries({ HOME, USER: "agent", LOGNAME: "agent", SHELL: "/bin/sh", TERM: "dumb", LANG: "C.UTF-8", TMPDIR: "/tmp", AGENT_ID: options.id, ...options.launch.env, ...card.environment }).map(([name, value]) => ({ name, value })),
    ...(options.gatewayKey
      ? [fromSecret("OPENAI_API_KEY", "gateway-key"), fromSecret("ANTHROPIC_API_KEY", "gateway-key"), ...Object.entries({ PADDOCK_GATEWAY_URL: gateway, OPENAI_BASE_URL: `${gateway}/v1`, ANTHROPIC_BASE_URL: gateway }).map(([name, value]) => ({ name, value }))]
      : []),
    // The proxy knows the agent by this token and by its pod's address: the token alone, copied elsewhere, is refused.
    ...(options.egressToken
      ? [fromSecret("PADDOCK_EGRESS_TOKEN", "egress-token"), ...["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"].map((name) => ({ name, value: proxy })), { name: "NO_PROXY", value: "localhost,127.0.0.1,::1" }, { name: "no_proxy", value: "localhost,127.0.0.1,::1" }]
      : []),
  ];
  const homeItems = Object.keys(options.launch.homeFiles).map((file, i) => ({ key: `home-${i}`, path: file, mode: 0o400 }));
  const volumeMounts: Manifest[] = [
    { name: "workspace", mountPath: "/workspace" },
    { name: "home", mountPath: HOME },
    { name: "tmp", mountPath: "/tmp" },
  ];
  const container = (name: string, command: string[], mounts = volumeMounts) => ({
    name,
    image: options.image,
    command,
    workingDir: `/workspace${card.workdir ? `/${card.workdir}` : ""}`,
    securityContext: restrictedContainer(),
    volumeMounts: mounts,
  });
  const pod: Manifest = {
    metadata: {
      name: options.name,
      namespace: options.namespace,
      labels,
      annotations: {
        ...(options.egressTokenSha256 ? { [ANNOTATIONS.egressToken]: options.egressTokenSha256 } : {}),
        [ANNOTATIONS.allowedHosts]: JSON.stringify(card.allowed_hosts),
      },
    },
    spec: {
      serviceAccountName: "paddock-agent",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: "Never",
      ...(card.ttl_seconds > 0 ? { activeDeadlineSeconds: card.ttl_seconds } : {}),
      ...(options.runtimeClass || card.backend === "gvisor" ? { runtimeClassName: options.runtimeClass ?? "gvisor" } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
      // The adapter's HOME files (configs, keys) are copied into the writable HOME, as on one machine.
      ...(homeItems.length ? { initContainers: [container("home", ["sh", "-c", `cp -R ${SECRET_DIR}/home/. ${HOME}/`], [...volumeMounts, { name: "agent-secret", mountPath: `${SECRET_DIR}/home`, readOnly: true }])] } : {}),
      containers: [
        {
          ...container("agent", options.launch.command),
          env,
          resources: {
            requests: { cpu: `${Math.max(1, Math.round((card.resource_limits.cpu_shares * 1000) / 1024))}m`, memory: `${card.resource_limits.memory_mb}Mi` },
            limits: { memory: `${card.resource_limits.memory_mb}Mi` },
          },
        },
      ],
      volumes: [
        { name: "workspace", emptyDir: {} },
        { name: "home", emptyDir: {} },
        { name: "tmp", emptyDir: {} },
        ...(homeItems.length ? [{ name: "agent-secret", secret: { secretName, items: homeItems, defaultMode: 0o400 } }] : []),
      ],
    },
  };
  const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: secretName, namespace: options.namespace, labels }, type: "Opaque", stringData: secretData };
  return { pod, secret };
}
