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

  it("renders the same list as an OCI profile (runsc, Kubernetes Localhost), with the same verdicts", () => {
    type Oci = { defaultAction: string; syscalls: Array<{ names: string[]; action: string; errnoRet?: number; args?: Array<{ index: number; value: number; valueTwo: number; op: string }> }> };
    /** What a runtime decides for one call, by the OCI rules: entries are alternatives; an entry's comparisons are ANDed, or ORed when they name one argument (runc's rule, which runsc keeps). */
    const verdict = (profile: Oci, name: string, args: number[] = []) => {
      const holds = (c: { index: number; value: number; valueTwo: number; op: string }) => {
        const a = (args[c.index] ?? 0) >>> 0;
        return c.op === "SCMP_CMP_EQ" ? a === c.value : c.op === "SCMP_CMP_GE" ? a >= c.value : ((a & c.value) >>> 0) === c.valueTwo;
      };
      const hit = profile.syscalls.find((s) => {
        if (!s.names.includes(name)) return false;
        const cs = s.args ?? [];
        const oneArg = cs.length > 1 && cs.every((c) => c.index === cs[0]!.index);
        return cs.length === 0 || (oneArg ? cs.some(holds) : cs.every(holds));
      });
      return !hit ? "allow" : hit.action === "SCMP_ACT_TRACE" ? `errno ${ENOSYS} (trace, no tracer)` : `errno ${hit.errnoRet}`;
    };
    const runc = ociProfile("default") as Oci;
    assert.equal(runc.defaultAction, "SCMP_ACT_ALLOW");
    assert.equal(verdict(runc, "io_uring_setup"), `errno ${EPERM}`);
    assert.equal(verdict(runc, "clone3"), `errno ${ENOSYS}`);
    assert.equal(verdict(runc, "clone", [0x10000000]), `errno ${EPERM}`, "CLONE_NEWUSER");
    assert.equal(verdict(runc, "clone", [0x3d0f00]), "allow", "a thread");
    assert.equal(verdict(runc, "unshare", [0x400]), "allow", "CLONE_FILES");
    assert.equal(verdict(runc, "ptrace", [16]), `errno ${EPERM}`, "PTRACE_ATTACH");
    assert.equal(verdict(runc, "ptrace", [0]), "allow", "PTRACE_TRACEME");
    assert.equal(verdict(runc, "personality", [0xffffffff]), "allow", "the query");
    assert.equal(verdict(runc, "personality", [0x8]), "allow");
    for (const weakening of [0x40000, 0x40008, 0xfffffffe, 0x7fffffff]) assert.equal(verdict(runc, "personality", [weakening]), `errno ${EPERM}`, weakening.toString(16));
    assert.equal(verdict(runc, "iopl"), `errno ${EPERM}`, "x86-only calls are named too");
    // runsc answers every SCMP_ACT_ERRNO with EPERM, whatever errnoRet says: its clone3 rule is a trace with no tracer, which is ENOSYS.
    const gvisor = ociProfile("default", "gvisor") as Oci;
    assert.equal(verdict(gvisor, "clone3"), `errno ${ENOSYS} (trace, no tracer)`);
    assert.ok(gvisor.syscalls.every((s) => s.action === "SCMP_ACT_TRACE" || s.errnoRet === EPERM));
    const strict = ociProfile("strict") as Oci;
    assert.equal(verdict(strict, "personality", [0x8]), `errno ${EPERM}`, "strict: plain Linux only");
    assert.equal(verdict(strict, "personality", [0xffffffff]), "allow");
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

  it("under gVisor, gVisor's kernel applies the same denials to the agent (clone3 with ENOSYS, so threads still start)", async () => {
    const filtered = await results(card("probe-gvisor", `command: [seccomp-probe]\ntools: [${probe}]\nbackend: gvisor\n`));
    const attempted = ["io_uring_setup", "userfaultfd", "keyctl", "perf_event_open", "bpf", "fsopen", "mount", "unshare_newuser", "unshare_newns", "clone_newnet", "ptrace_attach", "personality_no_aslr", "tiocsti"];
    for (const call of attempted) assert.equal(filtered[call], EPERM, `${call}: ${JSON.stringify(filtered)}`);
    assert.equal(filtered.clone3, ENOSYS, JSON.stringify(filtered));
    assert.deepEqual([filtered.getpid, filtered.personality_query, filtered.fork], ["ok", "ok", "ok"], "ordinary calls still work");
    // Without the filter gVisor's kernel answers for itself: the calls it implements get through.
    const open = await results(card("probe-gvisor-open", `command: [seccomp-probe]\ntools: [${probe}]\nbackend: gvisor\nseccomp: unconfined\n`), ["--allow-unconfined-seccomp"]);
    for (const call of ["unshare_newns", "clone3"]) assert.notEqual(open[call], filtered[call], `${call} unconfined: ${JSON.stringify(open)}`);
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
