/**
 * A small classic-BPF seccomp filter for bubblewrap's `--seccomp FD` (raw `struct sock_filter`
 * array). Deny-list, not allow-list: it removes the kernel attack surface a sample never needs
 * (module loading, kexec, bpf, perf, userfaultfd, keyrings, io_uring — which would also hide
 * I/O from strace —, mount/namespace calls) and the x32 ABI. Everything else stays allowed so
 * the sample shows its behaviour. The denied calls return EPERM, so strace records the attempt.
 */

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const EPERM = 1;
const X32_SYSCALL_BIT = 0x40000000;

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;

/** name → number, per architecture (only the calls we deny). */
const DENIED: Record<string, Record<string, number>> = {
  x64: {
    kexec_load: 246,
    kexec_file_load: 320,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    bpf: 321,
    perf_event_open: 298,
    userfaultfd: 323,
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    swapon: 167,
    swapoff: 168,
    reboot: 169,
    acct: 163,
    unshare: 272,
    setns: 308,
    open_by_handle_at: 304,
    name_to_handle_at: 303,
    iopl: 172,
    ioperm: 173,
    syslog: 103,
    quotactl: 179,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    move_mount: 429,
    open_tree: 428,
    fspick: 433,
    mount_setattr: 442,
    lookup_dcookie: 212,
    personality: 135,
  },
  arm64: {
    kexec_load: 104,
    kexec_file_load: 294,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    bpf: 280,
    perf_event_open: 241,
    userfaultfd: 282,
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    swapon: 224,
    swapoff: 225,
    reboot: 142,
    acct: 89,
    unshare: 97,
    setns: 268,
    open_by_handle_at: 265,
    name_to_handle_at: 264,
    syslog: 116,
    quotactl: 60,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    move_mount: 429,
    open_tree: 428,
    fspick: 433,
    mount_setattr: 442,
    personality: 92,
  },
};

export function deniedSyscalls(arch: string = process.arch): string[] {
  return Object.keys(DENIED[arch] ?? {});
}

/** The filter program for `arch`, or null where we have no syscall table (then no seccomp, reported). */
export function buildSeccompFilter(arch: string = process.arch): Buffer | null {
  const table = DENIED[arch];
  if (!table) return null;
  const auditArch = arch === 'x64' ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_AARCH64;
  const nrs = [...new Set(Object.values(table))].sort((a, b) => a - b);
  const prog: [number, number, number, number][] = [];
  prog.push([LD_W_ABS, 0, 0, 4]); // seccomp_data.arch
  prog.push([JEQ_K, 1, 0, auditArch]);
  prog.push([RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS]); // foreign ABI (e.g. int 0x80 on x86-64)
  prog.push([LD_W_ABS, 0, 0, 0]); // seccomp_data.nr
  const denyAt = 4 + (arch === 'x64' ? 1 : 0) + nrs.length + 1;
  if (arch === 'x64') prog.push([JGE_K, denyAt - 5, 0, X32_SYSCALL_BIT]);
  nrs.forEach((nr, i) => {
    const here = prog.length;
    prog.push([JEQ_K, denyAt - here - 1, 0, nr]);
    void i;
  });
  prog.push([RET_K, 0, 0, SECCOMP_RET_ALLOW]);
  prog.push([RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM]);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}

/** Runs the program on (arch, nr) like the kernel would; for tests. */
export function evalSeccomp(filter: Buffer, arch: number, nr: number): number {
  let pc = 0;
  let acc = 0;
  for (let steps = 0; steps < 4096; steps++) {
    const code = filter.readUInt16LE(pc * 8);
    const jt = filter.readUInt8(pc * 8 + 2);
    const jf = filter.readUInt8(pc * 8 + 3);
    const k = filter.readUInt32LE(pc * 8 + 4);
    if (code === LD_W_ABS) acc = k === 4 ? arch : nr;
    else if (code === JEQ_K) pc += acc === k ? jt : jf;
    else if (code === JGE_K) pc += acc >>> 0 >= k ? jt : jf;
    else if (code === RET_K) return k;
    pc++;
  }
  throw new Error('filter does not terminate');
}
