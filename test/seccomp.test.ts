import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { lookup } from "node:dns/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { compile, ENOSYS, EPERM, ociProfile, RULES, type Instruction, type SeccompArch } from "../src/seccomp/index.js";
import { paddock, ROOT, scratch } from "./helpers.js";

/** An independent classic-BPF interpreter: what the kernel would decide for one call. */
function decide(program: Instruction[], call: { arch: number; nr: number; args?: number[] }): string {
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    const jump = (taken: boolean) => (pc += taken ? jt : jf);
    if (code === 0x20) a = k === 0 ? call.nr : k === 4 ? call.arch : (call.args?.[(k - 16) / 8] ?? 0) >>> 0;
    else if (code === 0x15) jump(a === k >>> 0);
    else if (code === 0x35) jump(a >= k >>> 0);
    else if (code === 0x45) jump((a & k) !== 0);
    else if (code === 0x06) return k === 0x7fff0000 ? "allow" : (k & 0xffff0000) === 0x00050000 ? `errno ${k & 0xffff}` : `other ${k}`;
    else throw new Error(`unknown opcode ${code}`);
  }
  throw new Error("fell off the program");
}

const ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7, i386: 0x40000003 } as const;

describe("seccomp: the table and the compiled filter", () => {
  it("names each call by its number in this host's kernel headers, on x86-64 and aarch64", () => {
    const headers: Record<SeccompArch, string> = { x86_64: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", aarch64: "/usr/include/asm-generic/unistd.h" };
    for (const [arch, header] of Object.entries(headers) as Array<[SeccompArch, string]>) {
      assert.ok(existsSync(header), `${header} (Debian's linux-libc-dev) is needed to check the numbers`);
      const numbers = new Map([...readFileSync(header, "utf8").matchAll(/^#define __NR_(\w+)\s+(\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
      for (const rule of RULES) {
        const nr = rule.nr[arch];
        if (nr !== undefined) assert.equal(nr, numbers.get(rule.name), `${rule.name} on ${arch}`);
        else assert.equal(numbers.get(rule.name), undefined, `${rule.name} exists on ${arch}: give its number`);
      }
    }
  });

  for (const arch of ["x86_64", "aarch64"] as const) {
    it(`decides as the table says on ${arch}: EPERM for each denied call, arguments checked, others allowed`, () => {
      const program = compile("default", arch);
      const nr = (name: string) => RULES.find((r) => r.name === name)!.nr[arch]!;
      const call = (name: string, args?: number[]) => decide(program, { arch: ARCH[arch], nr: nr(name), args });
      for (const rule of RULES.filter((r) => r.judgement.deny === "always" && r.profiles.includes("default") && r.nr[arch] !== undefined)) {
        assert.equal(call(rule.name), `errno ${EPERM}`, rule.name);
      }
      assert.equal(call("clone", [0x10000000 | 17]), `errno ${EPERM}`, "clone(CLONE_NEWUSER)");
      assert.equal(call("clone", [0x003d0f00 | 17]), "allow", "clone of a thread");
      assert.equal(call("unshare", [0x00000080]), `errno ${EPERM}`, "unshare(CLONE_NEWTIME)");
      assert.equal(call("unshare", [0x00000400]), "allow", "unshare(CLONE_FILES)");
      assert.equal(call("clone3"), `errno ${ENOSYS}`);
      assert.equal(call("ptrace", [16]), `errno ${EPERM}`, "PTRACE_ATTACH");
      assert.equal(call("ptrace", [0x4206]), `errno ${EPERM}`, "PTRACE_SEIZE");
      assert.equal(call("ptrace", [0]), "allow", "PTRACE_TRACEME");
      assert.equal(call("personality", [0x0040000]), `errno ${EPERM}`, "ADDR_NO_RANDOMIZE");
      assert.equal(call("personality", [0xffffffff]), "allow", "the query");
      assert.equal(call("ioctl", [1, 0x5412]), `errno ${EPERM}`, "TIOCSTI");
      assert.equal(call("ioctl", [1, 0x5401]), "allow", "TCGETS");
      assert.equal(call("socket", [17]), "allow", "AF_PACKET is the kernel's to refuse in the default profile");
      assert.equal(decide(program, { arch: ARCH[arch], nr: 451 }), `errno ${ENOSYS}`, "a call newer than the table");
      assert.equal(decide(program, { arch: ARCH[arch], nr: arch === "x86_64" ? 39 : 172 }), "allow", "getpid");
      assert.equal(decide(program, { arch: ARCH.i386, nr: 20 }), `errno ${EPERM}`, "another architecture's entry point");
      if (arch === "x86_64") assert.equal(decide(program, { arch: ARCH.x86_64, nr: 0x40000000 | 39 }), `errno ${EPERM}`, "x32");
      const strict = compile("strict", arch);
      const strictCall = (name: string, args?: number[]) => decide(strict, { arch: ARCH[arch], nr: nr(name), args });
      assert.equal(strictCall("ptrace", [0]), `errno ${EPERM}`, "strict: no tracing at all");
      assert.equal(strictCall("socket", [17]), `errno ${EPERM}`, "strict: AF_PACKET");
      assert.equal(strictCall("socket", [2]), "allow", "strict: AF_INET");
      assert.equal(strictCall("keyctl"), `errno ${EPERM}`, "strict keeps every default denial");
    });
  }

  it("renders the same list as an OCI profile (runsc, Kubernetes Localhost)", () => {
    const profile = ociProfile("default") as { defaultAction: string; syscalls: Array<{ names: string[]; errnoRet: number; args?: Array<{ value: number; op: string }> }> };
    assert.equal(profile.defaultAction, "SCMP_ACT_ALLOW");
    const denied = (name: string) => profile.syscalls.filter((s) => s.names.includes(name));
    assert.equal(denied("io_uring_setup")[0]?.errnoRet, EPERM);
    assert.equal(denied("clone3")[0]?.errnoRet, ENOSYS);
    assert.deepEqual(denied("clone").map((s) => s.args![0]!.value).sort((a, b) => a - b), [0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000]);
    assert.equal(denied("iopl").length, 1, "x86-only calls are named too");
  });
});

describe("seccomp: inside a sandbox", () => {
  const { dir, env } = scratch("paddock-seccomp-");
  const probe = join(dir, "seccomp-probe");
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const card = (name: string, fields: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `agent_id: ${name}\nworkspace: ${workspace}\nkind: command\n${fields}`);
    return file;
  };
  const results = async (file: string, extra: string[] = []) => {
    const r = await paddock(["exec", ...extra, "--card", file], { env });
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split(" ")).map(([name, rc, errno]) => [name!, Number(rc) < 0 ? Number(errno) : "ok"]));
  };

  before(() => {
    execFileSync("gcc", ["-static", "-O2", "-o", probe, join(ROOT, "test", "fixtures", "seccomp-probe.c")]);
  });

  it("each denied call fails with EPERM (clone3 with ENOSYS), and the filter is why: unconfined, the same calls get through or fail otherwise", async () => {
    const filtered = await results(card("probe", `command: [seccomp-probe]\ntools: [${probe}]\n`));
    const attempted = ["io_uring_setup", "userfaultfd", "keyctl", "perf_event_open", "bpf", "fsopen", "mount", "unshare_newuser", "unshare_newns", "clone_newnet", "ptrace_attach", "personality_no_aslr", "tiocsti", "x32_getpid", "i386_getpid"];
    for (const call of attempted) assert.equal(filtered[call], EPERM, `${call}: ${JSON.stringify(filtered)}`);
    assert.equal(filtered.clone3, ENOSYS);
    assert.deepEqual([filtered.getpid, filtered.personality_query, filtered.fork], ["ok", "ok", "ok"], "ordinary calls still work");

    const open = await results(card("probe-open", `command: [seccomp-probe]\ntools: [${probe}]\nseccomp: unconfined\n`), ["--allow-unconfined-seccomp"]);
    // Without the filter the kernel answers for itself: these get through, or fail with another error.
    const reasonIsFilter = ["io_uring_setup", "keyctl", "perf_event_open", "unshare_newuser", "ptrace_attach", "personality_no_aslr", "tiocsti", "x32_getpid", "i386_getpid", "clone3"];
    for (const call of reasonIsFilter) assert.notEqual(open[call], filtered[call], `${call} unconfined: ${open[call]}`);
  });

  it("shows in the process status, and strict denies more", async () => {
    const r = await paddock(["exec", "--card", card("status", "command: [grep, Seccomp, /proc/self/status]\ntools: [grep]\nseccomp: strict\n")], { env });
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    const strict = await results(card("probe-strict", `command: [seccomp-probe]\ntools: [${probe}]\nseccomp: strict\n`));
    assert.equal(strict.keyctl, EPERM);
    assert.equal(strict.ptrace_attach, EPERM);
  });

  it("runs unconfined only with --allow-unconfined-seccomp, and says so", async () => {
    const file = card("open", "command: [grep, 'Seccomp:', /proc/self/status]\ntools: [grep]\nseccomp: unconfined\n");
    const refused = await paddock(["exec", "--card", file], { env });
    assert.equal(refused.code, 125);
    assert.match(refused.stderr, /seccomp: the card turns the system call filter off .*\n.*--allow-unconfined-seccomp/);
    const allowed = await paddock(["exec", "--allow-unconfined-seccomp", "--card", file], { env });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /^Seccomp:\s+0$/m);
    assert.match(allowed.stderr, /seccomp: warning: no system call filter/);
  });

  it("keeps what coding agents do working: git, make, python3 -m venv, npm install through the egress proxy", async () => {
    const script = [
      "set -e",
      "git init -q repo && cd repo && echo hi > a && git add a && git -c user.name=a -c user.email=a@a commit -qm one && git log --oneline | wc -l",
      "printf 'all:\\n\\techo made\\n' > Makefile && make -s",
      "python3 -m venv --without-pip /tmp/venv && /tmp/venv/bin/python -c 'import sys; print(sys.prefix)'",
      "mkdir -p /tmp/app && cd /tmp/app && npm install --no-audit --no-fund --loglevel=error is-number@7.0.0 > /dev/null && node -e 'console.log(require(\"is-number\")(5))'",
    ].join("\n");
    // Where this host reaches the registry at a reserved address (a mirror), the proxy's SSRF guard wants it named too.
    const addresses = (await lookup("registry.npmjs.org", { all: true })).map((a) => a.address);
    const file = card("tools", `command: [sh, -c, ${JSON.stringify(script)}]\ntools: [sh, coreutils, git, make, python3, node, npm]\nallowed_hosts: [registry.npmjs.org, ${addresses.map((a) => JSON.stringify(a.includes(":") ? `[${a}]:443` : `${a}:443`)).join(", ")}]\nresource_limits: { memory_mb: 2048, max_processes: 256 }\n`);
    const r = await paddock(["exec", "--card", file], { env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(r.stdout.trim().split("\n"), ["1", "made", "/tmp/venv", "true"]);
  });
});
