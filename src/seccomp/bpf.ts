import { NEWEST_KNOWN, rulesFor, type Judgement, type SeccompArch, type SeccompProfile } from "./table.js";

// Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
export const EPERM = 1;
export const ENOSYS = 38;

/** seccomp_data: nr at 0, arch at 4, then six 64-bit arguments from 16 (low half first: both architectures are little-endian). */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i;

const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
/** x32 system calls are x86-64 numbers with this bit set. */
const X32_SYSCALL_BIT = 0x40000000;

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const ins = (code: number, k: number, jt = 0, jf = 0): Instruction => ({ code, jt, jf, k });
const ret = (value: number) => ins(RET_K, value);
const errno = (e: number) => ret(RET_ERRNO | e);

/**
 * The filter as classic BPF: another architecture's entry points (i386 and
 * x32 on x86-64, arm32 on aarch64) fail with EPERM; each rule's call is
 * compared in turn, its body returning on every path, so no jump spans more
 * than one rule; calls above the newest known number fail with ENOSYS; the
 * rest are allowed. Denials are errors, never kills, so tools can fall back.
 */
export function compile(profile: Exclude<SeccompProfile, "unconfined">, arch: SeccompArch): Instruction[] {
  const program: Instruction[] = [ins(LD_W_ABS, OFFSET_ARCH), ins(JEQ_K, AUDIT_ARCH[arch], 1, 0), errno(EPERM), ins(LD_W_ABS, OFFSET_NR)];
  if (arch === "x86_64") program.push(ins(JGE_K, X32_SYSCALL_BIT, 0, 1), errno(EPERM));
  for (const rule of rulesFor(profile, arch)) {
    const body = judge(rule.judgement);
    // Every body ends in a return and the next rule reloads the number, so it is loaded again here.
    program.push(ins(LD_W_ABS, OFFSET_NR), ins(JEQ_K, rule.number, 0, body.length), ...body);
  }
  program.push(ins(LD_W_ABS, OFFSET_NR), ins(JGE_K, NEWEST_KNOWN[arch] + 1, 0, 1), errno(ENOSYS), ret(RET_ALLOW));
  if (program.length > 4096) throw new Error(`the seccomp program has ${program.length} instructions; the kernel takes 4096`);
  return program;
}

function judge(j: Judgement): Instruction[] {
  switch (j.deny) {
    case "always":
      return [errno(EPERM)];
    case "enosys":
      return [errno(ENOSYS)];
    case "bits":
      return [ins(LD_W_ABS, argLow(j.arg)), ins(JSET_K, j.mask, 0, 1), errno(EPERM), ret(RET_ALLOW)];
    case "values":
    case "unless": {
      // Each comparison jumps over the ones after it and the first return, to the second.
      const compares = j.values.map((v, i) => ins(JEQ_K, v, j.values.length - i, 0));
      const [onMatch, onOther] = j.deny === "values" ? [errno(EPERM), ret(RET_ALLOW)] : [ret(RET_ALLOW), errno(EPERM)];
      return [ins(LD_W_ABS, argLow(j.arg)), ...compares, onOther, onMatch];
    }
  }
}

/** struct sock_filter[]: what bwrap's --seccomp reads (the format seccomp_export_bpf writes). */
export function encode(program: Instruction[]): Buffer {
  const out = Buffer.alloc(program.length * 8);
  program.forEach((p, i) => {
    out.writeUInt16LE(p.code, i * 8);
    out.writeUInt8(p.jt, i * 8 + 2);
    out.writeUInt8(p.jf, i * 8 + 3);
    out.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return out;
}
