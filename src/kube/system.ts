import { randomBytes } from "node:crypto";
import { NAMESPACES, PORTS } from "./names.js";

type Manifest = Record<string, unknown>;

export interface SystemOptions {
  /** paddock's own image (the Containerfile at the repository's root builds it). */
  image: string;
  gatewayReplicas: number;
  /** An external PostgreSQL; without it, one runs in paddock-system as a StatefulSet. */
  databaseUrl?: string;
  /** The model the gateway serves, by the name vLLM serves it under. */
  model: string;
}

/** Held in a Secret made by kustomize's secretGenerator from `base/secrets.env` (written once, mode 0600, never rendered into a manifest). */
export function systemSecrets(options: SystemOptions): string {
  const password = randomBytes(18).toString("base64url");
  const url = options.databaseUrl ?? `postgres://paddock:${password}@postgres.${NAMESPACES.system}.svc:5432/paddock`;
  return [`POSTGRES_PASSWORD=${password}`, `PADDOCK_DATABASE_URL=${url}`, `PADDOCK_MASTER_KEY=sk-${randomBytes(24).toString("base64url")}`, ""].join("\n");
}

/** A container that runs as Pod Security `restricted` wants it: not root, read-only root, no capability, RuntimeDefault seccomp. */
export function restrictedContainer(): Manifest {
  return { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } };
}

/**
 * paddock-system: the gateway (N replicas on the shared store), the egress proxy, the controller (`paddock up --kube`)
 * with RBAC confined to the agents' namespace, and PostgreSQL (a StatefulSet, or an external DSN).
 */
export function systemManifests(options: SystemOptions): Map<string, Manifest[]> {
  const files = new Map<string, Manifest[]>();
  files.set("gateway.yaml", gateway(options));
  files.set("egress.yaml", egress(options));
  files.set("controller.yaml", controller(options));
  if (!options.databaseUrl) files.set("postgres.yaml", postgres());
  return files;
}

const SECRET = "paddock-secrets";
const secretEnv = (name: string, key = name) => ({ name, valueFrom: { secretKeyRef: { name: SECRET, key } } });
const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: NAMESPACES.system, labels: { "app.kubernetes.io/name": name }, ...extra });
const scrape = (port: number) => ({ "prometheus.io/scrape": "true", "prometheus.io/port": String(port), "prometheus.io/path": "/metrics" });

function deployment(name: string, options: { replicas: number; serviceAccount?: string; annotations?: Record<string, string>; container: Manifest; volumes?: Manifest[] }): Manifest {
  const labels = { "app.kubernetes.io/name": name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(name),
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, ...(options.annotations ? { annotations: options.annotations } : {}) },
        spec: {
          ...(options.serviceAccount ? { serviceAccountName: options.serviceAccount } : { automountServiceAccountToken: false }),
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [{ securityContext: restrictedContainer(), ...options.container }],
          // A read-only root: paddock's state and scratch go here.
          volumes: [{ name: "data", emptyDir: {} }, ...(options.volumes ?? [])],
        },
      },
    },
  };
}

function service(name: string, port: number): Manifest {
  return { apiVersion: "v1", kind: "Service", metadata: meta(name), spec: { selector: { "app.kubernetes.io/name": name }, ports: [{ name: "http", port, targetPort: port }] } };
}

const DATA_MOUNT = { name: "data", mountPath: "/var/lib/paddock" };
const DATA_ENV = { name: "PADDOCK_HOME", value: "/var/lib/paddock" };

function gateway(options: SystemOptions): Manifest[] {
  const config = {
    model_list: [{ model_name: options.model, litellm_params: { model: `hosted_vllm/${options.model}`, api_base: `http://vllm.${NAMESPACES.models}.svc:8000/v1` } }],
    general_settings: { master_key: "os.environ/PADDOCK_MASTER_KEY", database_url: "os.environ/PADDOCK_DATABASE_URL" },
    paddock_settings: { listen: `0.0.0.0:${PORTS.gateway}` },
  };
  const probe = (path: string) => ({ httpGet: { path, port: PORTS.gateway }, periodSeconds: 10 });
  return [
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta("paddock-gateway"), data: { "paddock.yaml": JSON.stringify(config, null, 2) } },
    deployment("paddock-gateway", {
      replicas: options.gatewayReplicas,
      serviceAccount: "paddock-gateway",
      annotations: scrape(PORTS.gateway),
      container: {
        name: "gateway",
        image: options.image,
        // An agent's key is taken only from its own pod's address, which the gateway reads from the API.
        args: ["gateway", "--config", "/etc/paddock/paddock.yaml", "--kube-namespace", NAMESPACES.agents],
        env: [DATA_ENV, secretEnv("PADDOCK_MASTER_KEY"), secretEnv("PADDOCK_DATABASE_URL")],
        ports: [{ name: "http", containerPort: PORTS.gateway }],
        readinessProbe: probe("/health/readiness"),
        livenessProbe: probe("/health/liveness"),
        volumeMounts: [DATA_MOUNT, { name: "config", mountPath: "/etc/paddock", readOnly: true }],
      },
      volumes: [{ name: "config", configMap: { name: "paddock-gateway" } }],
    }),
    service("paddock-gateway", PORTS.gateway),
    ...podReader("paddock-gateway"),
  ];
}

function egress(options: SystemOptions): Manifest[] {
  return [
    deployment("paddock-egress", {
      replicas: 2,
      serviceAccount: "paddock-egress",
      annotations: scrape(PORTS.egressMetrics),
      container: {
        name: "egress",
        image: options.image,
        // Agents are learned from their pods in the agents' namespace (who they are, what they may reach).
        args: ["egress", "serve", "--kube-namespace", NAMESPACES.agents, "--listen", `0.0.0.0:${PORTS.egress}`, "--metrics-listen", `0.0.0.0:${PORTS.egressMetrics}`],
        env: [DATA_ENV, secretEnv("PADDOCK_DATABASE_URL")],
        ports: [{ name: "proxy", containerPort: PORTS.egress }, { name: "metrics", containerPort: PORTS.egressMetrics }],
        readinessProbe: { tcpSocket: { port: PORTS.egress }, periodSeconds: 10 },
        volumeMounts: [DATA_MOUNT],
      },
    }),
    service("paddock-egress", PORTS.egress),
    ...podReader("paddock-egress"),
  ];
}

function controller(options: SystemOptions): Manifest[] {
  return [
    deployment("paddock-controller", {
      // One controller: its state is in the API and PostgreSQL, so a restarted one takes over where it was.
      replicas: 1,
      serviceAccount: "paddock-controller",
      container: {
        name: "controller",
        image: options.image,
        // The gateway's config too: the controller mints each agent's key into the store the gateway replicas read.
        args: ["up", "--kube", "--namespace", NAMESPACES.agents, "--gateway", "/etc/paddock/paddock.yaml", "--listen", `0.0.0.0:${PORTS.controller}`, "--no-dashboard"],
        env: [DATA_ENV, secretEnv("PADDOCK_MASTER_KEY"), secretEnv("PADDOCK_DATABASE_URL")],
        ports: [{ name: "api", containerPort: PORTS.controller }],
        volumeMounts: [DATA_MOUNT, { name: "config", mountPath: "/etc/paddock", readOnly: true }],
      },
      volumes: [{ name: "config", configMap: { name: "paddock-gateway" } }],
    }),
    service("paddock-controller", PORTS.controller),
    serviceAccount("paddock-controller"),
    ...agentsRole("paddock-controller", [
      { apiGroups: [""], resources: ["pods", "services", "secrets", "persistentvolumeclaims"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
      { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
      { apiGroups: [""], resources: ["pods/attach", "pods/exec"], verbs: ["create", "get"] },
      { apiGroups: [""], resources: ["events"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["agents.x-k8s.io"], resources: ["sandboxes"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
      { apiGroups: ["extensions.agents.x-k8s.io"], resources: ["sandboxtemplates", "sandboxclaims", "sandboxwarmpools"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
    ]),
  ];
}

/** A ServiceAccount that may read the agents' pods (who each agent is, at which address), and nothing else. */
function podReader(name: string): Manifest[] {
  return [serviceAccount(name), ...agentsRole(name, [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }])];
}

function serviceAccount(name: string): Manifest {
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(name) };
}

/** A Role in the agents' namespace only (nothing cluster-wide), bound to a ServiceAccount of paddock-system. */
function agentsRole(name: string, rules: Manifest[]): Manifest[] {
  return [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name, namespace: NAMESPACES.agents }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: NAMESPACES.agents },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: NAMESPACES.system }],
    },
  ];
}

function postgres(): Manifest[] {
  const labels = { "app.kubernetes.io/name": "postgres" };
  return [
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: meta("postgres"),
      spec: {
        serviceName: "postgres",
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 999, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: "postgres",
                image: "postgres:17",
                env: [{ name: "POSTGRES_USER", value: "paddock" }, { name: "POSTGRES_DB", value: "paddock" }, secretEnv("POSTGRES_PASSWORD"), { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" }],
                ports: [{ name: "postgres", containerPort: 5432 }],
                readinessProbe: { exec: { command: ["pg_isready", "-U", "paddock"] }, periodSeconds: 10 },
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                volumeMounts: [{ name: "pgdata", mountPath: "/var/lib/postgresql/data" }, { name: "run", mountPath: "/var/run/postgresql" }],
              },
            ],
            volumes: [{ name: "run", emptyDir: {} }],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: "pgdata" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } } }],
      },
    },
    { apiVersion: "v1", kind: "Service", metadata: meta("postgres"), spec: { clusterIP: "None", selector: labels, ports: [{ name: "postgres", port: 5432 }] } },
  ];
}
