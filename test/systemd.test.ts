import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { paddock, run, scratch } from "./helpers.js";

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync("systemd-analyze", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("paddock systemd install", () => {
  it("writes a template unit and per-card limits that systemd-analyze verify accepts", { skip: hasSystemdAnalyze() ? false : "systemd-analyze is not installed" }, async () => {
    const { dir, env } = scratch();
    const cards = join(dir, "cards");
    const units = join(dir, "units");
    mkdirSync(cards);
    mkdirSync(join(dir, "ws"));
    writeFileSync(join(cards, "alpha.yaml"), `agent_id: alpha\nworkspace: ${join(dir, "ws")}\nkind: command\ncommand: [sleep, "60"]\nresource_limits: { memory_mb: 512, max_processes: 40, cpu_shares: 1024, max_open_files: 2048 }\nttl_seconds: 600\n`);
    const r = await paddock(["systemd", "install", "--unit-dir", units, "--cards-dir", cards], { env });
    assert.equal(r.code, 0, r.stderr);
    const unit = readFileSync(join(units, "paddock-agent@.service"), "utf8");
    assert.match(unit, new RegExp(`^ExecStart=.* exec --allow-unenforced-limits --grace 10 --card ${cards}/%i\\.yaml$`, "m"));
    assert.match(unit, /^NoNewPrivileges=yes$/m);
    assert.doesNotMatch(unit, /PrivateUsers|SystemCallFilter|MemoryDenyWriteExecute/, "options that break bubblewrap or Node");
    const limits = readFileSync(join(units, "paddock-agent@alpha.service.d", "limits.conf"), "utf8");
    assert.match(limits, /^MemoryMax=640M$/m);
    assert.match(limits, /^TasksMax=72$/m);
    assert.match(limits, /^LimitNOFILE=2048$/m);
    assert.match(limits, /^RuntimeMaxSec=615$/m);

    const verify = (unitDir: string) => run(["systemd-analyze", "verify", "--man=no", join(unitDir, "paddock-agent@alpha.service")], { env: { ...env, SYSTEMD_LOG_LEVEL: "warning" } });
    const ok = await verify(units);
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /Unknown key|Invalid|Failed/, ok.stderr);
    // The check can fail: a unit with a mistake is caught.
    const broken = join(dir, "broken");
    mkdirSync(broken);
    copyFileSync(join(units, "paddock-agent@.service"), join(broken, "paddock-agent@.service"));
    writeFileSync(join(broken, "paddock-agent@.service"), readFileSync(join(broken, "paddock-agent@.service"), "utf8").replace("Type=exec", "Type=exec\nProtectSystm=strict"));
    const bad = await verify(broken);
    assert.match(bad.stderr, /Unknown key '?ProtectSystm'?/);
    assert.ok(existsSync(join(units, "paddock-agent@.service")));
  });
});
