import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { loadCard, type Card } from "../card/index.js";
import { report } from "./fail.js";

const CLI = resolve(fileURLToPath(import.meta.url), "..", "main.js");

/**
 * Under systemd the unit enforces the card's limits: paddock's own cgroup
 * writes are kept out (ProtectControlGroups), and the unit's budget carries
 * the paddock process itself on top of the agent's.
 */
const PADDOCK_OVERHEAD = { memoryMb: 128, tasks: 32 };

export function registerSystemd(program: Command): void {
  program
    .command("systemd")
    .description("run agents as systemd units")
    .command("install")
    .description("write paddock-agent@.service (instance = agent id) and, for each card, a drop-in with its limits")
    .option("--unit-dir <dir>", "where unit files go", "/etc/systemd/system")
    .option("--cards-dir <dir>", "where the cards are (ID.yaml)", "/etc/paddock/agents")
    .action(async (opts: { unitDir: string; cardsDir: string }) => {
      try {
        const cardsDir = resolve(opts.cardsDir);
        mkdirSync(opts.unitDir, { recursive: true });
        writeFileSync(join(opts.unitDir, "paddock-agent@.service"), template(cardsDir));
        const written = ["paddock-agent@.service"];
        for (const file of listCards(cardsDir)) {
          const { card } = await loadCard(join(cardsDir, file));
          const dir = join(opts.unitDir, `paddock-agent@${card.agent_id}.service.d`);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, "limits.conf"), dropIn(card));
          written.push(`paddock-agent@${card.agent_id}.service.d/limits.conf`);
        }
        process.stdout.write(`${written.map((f) => `wrote ${join(opts.unitDir, f)}`).join("\n")}\nthen: systemctl daemon-reload && systemctl start paddock-agent@ID\n`);
      } catch (err) {
        process.exitCode = report(err);
      }
    });
}

function listCards(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
  } catch {
    return [];
  }
}

export function template(cardsDir: string): string {
  return `# Written by paddock systemd install. One instance per agent: systemctl start paddock-agent@ID
# runs ${cardsDir}/ID.yaml in its sandbox; the agent's limits are in paddock-agent@ID.service.d/.
[Unit]
Description=paddock agent %i
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart=${process.execPath} ${CLI} exec --allow-unenforced-limits --grace 10 --card ${cardsDir}/%i.yaml
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=15
SyslogIdentifier=paddock-%i
Environment=PADDOCK_HOME=/var/lib/paddock

# Hardening (the seed's, less what bubblewrap or Node need: user namespaces, mount syscalls, a JIT).
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
PrivateTmp=yes
PrivateDevices=yes
PrivateIPC=yes
PrivateMounts=yes
ProtectSystem=strict
ReadWritePaths=/var/lib/paddock
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
ProtectClock=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RemoveIPC=yes

[Install]
WantedBy=multi-user.target
`;
}

export function dropIn(card: Card): string {
  const l = card.resource_limits;
  return `# The limits of ${card.agent_id}'s card, enforced by systemd (plus ${PADDOCK_OVERHEAD.memoryMb} MiB and ${PADDOCK_OVERHEAD.tasks} tasks for paddock itself).
[Service]
MemoryMax=${l.memory_mb + PADDOCK_OVERHEAD.memoryMb}M
MemorySwapMax=0
TasksMax=${l.max_processes + PADDOCK_OVERHEAD.tasks}
CPUWeight=${1 + Math.round(((l.cpu_shares - 2) * 9999) / 262142)}
LimitNOFILE=${l.max_open_files}
ReadWritePaths=${card.workspace}
${card.ttl_seconds > 0 ? `RuntimeMaxSec=${card.ttl_seconds + 15}\n` : ""}`;
}
