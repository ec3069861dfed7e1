/**
 * Behaviour signatures → score → verdict. Pure: every fact comes in through `ScoreInput`
 * (the reduced strace behaviour, the sinks' records, the scratch-home diff, the limits hit).
 */
import type { BehaviourSignature, SandboxReport, Verdict } from '@yamori/protocol';
import type { Behaviour } from './strace-parse.ts';
import { isSinkAddress } from './sink-protocols.ts';
import { HIGH_ENTROPY, MIN_ENTROPY_BYTES } from './entropy.ts';

export type SinkEvent =
  | { kind: 'dns'; domain: string; qtype: number; ip: string | null }
  | {
      kind: 'http';
      ip: string;
      port: number;
      domain: string | null;
      url: string;
      method: string;
      userAgent: string | null;
    }
  | { kind: 'tls'; ip: string; port: number; domain: string | null; sni: string | null }
  | { kind: 'connect'; ip: string; port: number; domain: string | null };

/** One file of the scratch areas (home, /tmp), compared before and after the run. */
export interface FileChange {
  /** The path as the sample saw it (`/home/alice/Documents/x.pdf`). */
  path: string;
  state: 'created' | 'modified' | 'deleted';
  decoy: boolean;
  sizeAfter: number | null;
  entropyBefore: number | null;
  entropyAfter: number | null;
  sha256After: string | null;
  /** ELF or #! content after the run. */
  executable: boolean;
}

export interface ScoreInput {
  status: SandboxReport['status'];
  behaviour: Behaviour;
  sinks: readonly SinkEvent[];
  changes: readonly FileChange[];
  limits: { pidsLimitHit: boolean; memoryLimitHit: boolean; wallClockHit: boolean; fallback: string | null };
  env: { home: string; samplePath: string; resolver: string; hostname: string };
}

export interface Scored {
  signatures: BehaviourSignature[];
  score: number;
  verdict: Verdict;
}

export const MALICIOUS_AT = 70;
export const SUSPICIOUS_AT = 30;

interface Rule {
  id: string;
  weight: number;
  message: string;
  /** Evidence strings; the signature fires when any is returned. */
  match(input: ScoreInput, ctx: Ctx): string[];
}

interface Ctx {
  writeAttempts: string[];
  readAttempts: string[];
  execs: { path: string; ok: boolean }[];
  home: string;
}

const under = (prefixes: string[], home: string) => (p: string) =>
  prefixes.some((x) => {
    const full = x.startsWith('~/') ? `${home}/${x.slice(2)}` : x;
    return full.endsWith('/')
      ? p.startsWith(full)
      : p === full || p.startsWith(`${full}.`) || p.startsWith(`${full}/`);
  });

const persistence = (paths: string[], execs: RegExp | null) => (i: ScoreInput, c: Ctx) => {
  const hit = under(paths, c.home);
  const ev = c.writeAttempts.filter(hit).map((p) => `write ${p}`);
  if (execs) ev.push(...c.execs.filter((e) => execs.test(e.path)).map((e) => `exec ${e.path}`));
  void i;
  return ev;
};

const LOOPBACK = /^(?:127\.|::1$|::ffff:127\.)/;

/** Addresses that are never indicators: private, loopback, link-local, multicast, the sinks' range. */
export function isPublicIp(ip: string): boolean {
  if (isSinkAddress(ip)) return false;
  if (ip.includes(':')) {
    const l = ip.toLowerCase();
    if (l.startsWith('::ffff:')) return isPublicIp(l.slice(7));
    return !(l === '::' || l === '::1' || /^f[cd]/.test(l) || /^fe[89ab]/.test(l) || l.startsWith('ff'));
  }
  const o = ip.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return false;
  const [a = 0, b = 0] = o;
  return !(
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b < 128) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b < 32) ||
    (a === 192 && b === 168) ||
    a >= 224
  );
}

/** Names worth publishing: real-looking DNS names, not local ones or IP literals. */
export function isIndicatorDomain(name: string, hostname: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (
    n.length > 253 ||
    !/^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]{0,62}$/.test(n)
  )
    return false;
  if (/(?:^|\.)(?:localhost|local|localdomain|lan|internal|home\.arpa|in-addr\.arpa|ip6\.arpa)$/.test(n))
    return false;
  return n !== hostname && !n.startsWith(`${hostname}.`);
}

function outbound(i: ScoreInput): { ip: string; port: number | null; ok: boolean }[] {
  return i.behaviour.network
    .filter((n) => n.family !== 'unix')
    .filter((n) => !(n.address === i.env.resolver && n.port === 53))
    .map((n) => ({ ip: n.address, port: n.port, ok: n.ok }));
}

const RULES: Rule[] = [
  {
    id: 'persistence.cron',
    weight: 40,
    message: 'Tried to install a cron job (scheduled re-execution survives reboots)',
    match: persistence(
      [
        '/etc/crontab',
        '/etc/cron.d/',
        '/etc/cron.hourly/',
        '/etc/cron.daily/',
        '/etc/cron.weekly/',
        '/etc/cron.monthly/',
        '/var/spool/cron/',
        '/etc/anacrontab',
      ],
      /\/crontab$/,
    ),
  },
  {
    id: 'persistence.systemd',
    weight: 40,
    message: 'Tried to create or enable a systemd unit',
    match: persistence(
      [
        '/etc/systemd/',
        '/lib/systemd/',
        '/usr/lib/systemd/',
        '/run/systemd/',
        '~/.config/systemd/',
        '~/.local/share/systemd/',
      ],
      /\/systemctl$/,
    ),
  },
  {
    id: 'persistence.shell-rc',
    weight: 30,
    message: 'Modified a login/shell start-up file or an init script (runs at every login or boot)',
    match: persistence(
      [
        '~/.bashrc',
        '~/.bash_profile',
        '~/.bash_login',
        '~/.profile',
        '~/.zshrc',
        '~/.zprofile',
        '/etc/profile',
        '/etc/profile.d/',
        '/etc/bash.bashrc',
        '/etc/environment',
        '/etc/rc.local',
        '/etc/init.d/',
        '/etc/rc0.d/',
        '/etc/rc1.d/',
        '/etc/rc2.d/',
        '/etc/rc3.d/',
        '/etc/rc4.d/',
        '/etc/rc5.d/',
        '/etc/rc6.d/',
        '/etc/rcS.d/',
      ],
      null,
    ),
  },
  {
    id: 'persistence.ssh-authorized-keys',
    weight: 40,
    message: 'Wrote an SSH authorized_keys file (remote login backdoor)',
    match: (_i, c) =>
      c.writeAttempts.filter((p) => /\/\.ssh\/authorized_keys2?$/.test(p)).map((p) => `write ${p}`),
  },
  {
    id: 'persistence.ld-preload',
    weight: 50,
    message: 'Tried to write /etc/ld.so.preload (library injection into every process)',
    match: persistence(['/etc/ld.so.preload'], null),
  },
  {
    id: 'persistence.autostart',
    weight: 30,
    message: 'Created a desktop autostart entry',
    match: persistence(['~/.config/autostart/', '/etc/xdg/autostart/'], null),
  },
  {
    id: 'credential.sensitive-read',
    weight: 30,
    message: "Tried to read credential stores or another user's home (shadow, sudoers, SSH keys, /root)",
    match: (_i, c) =>
      c.readAttempts
        .filter(
          (p) =>
            /^\/etc\/(?:g?shadow-?|sudoers(?:\.d\/.*)?|security\/opasswd)$/.test(p) ||
            p === '/root' ||
            p.startsWith('/root/') ||
            /\/\.ssh\/id_[a-z0-9]+$/.test(p),
        )
        .map((p) => `open ${p}`),
  },
  {
    id: 'privilege.setuid-root',
    weight: 20,
    message: 'Tried to become root (setuid/setgid family with id 0, or capset)',
    match: (i) =>
      i.behaviour.creds
        .filter((c) => c.call === 'capset' || (c.call !== 'setgroups' && c.args.some((a) => a === '0')))
        .map((c) => `${c.call}(${c.args.join(', ')}) ${c.ok ? 'succeeded' : 'failed'}`),
  },
  {
    id: 'privilege.ptrace',
    weight: 25,
    message: 'Tried to trace or inject into another process (ptrace)',
    match: (i) =>
      i.behaviour.ptraces
        .filter((p) => p.request !== 'PTRACE_TRACEME')
        .map((p) => `${p.request} pid ${p.target ?? '?'}`),
  },
  {
    id: 'evasion.anti-debug',
    weight: 15,
    message: 'Checked for a debugger (PTRACE_TRACEME)',
    match: (i) =>
      i.behaviour.ptraces.filter((p) => p.request === 'PTRACE_TRACEME').map(() => 'PTRACE_TRACEME'),
  },
  {
    id: 'evasion.self-delete',
    weight: 20,
    message: 'Tried to delete its own file',
    match: (i) =>
      i.behaviour.files
        .filter((f) => (f.op === 'delete' || f.op === 'rename') && f.path === i.env.samplePath)
        .map((f) => `${f.op} ${f.path}`),
  },
  {
    id: 'network.dns',
    weight: 10,
    message: 'Resolved external domain names',
    match: (i) => [
      ...new Set(
        i.sinks
          .filter((s) => s.kind === 'dns' && isIndicatorDomain(s.domain, i.env.hostname))
          .map((s) => (s.kind === 'dns' ? s.domain : '')),
      ),
    ],
  },
  {
    id: 'network.connect',
    weight: 20,
    message: 'Tried to open network connections to remote hosts',
    match: (i) => [
      ...new Set(
        outbound(i)
          .filter((o) => !LOOPBACK.test(o.ip))
          .map((o) => `${o.ip}:${o.port ?? '?'}`),
      ),
    ],
  },
  {
    id: 'network.raw-ip',
    weight: 15,
    message: 'Connected to a public IP address it never resolved (hard-coded address)',
    match: (i) => [
      ...new Set(
        outbound(i)
          .filter((o) => isPublicIp(o.ip))
          .map((o) => `${o.ip}:${o.port ?? '?'}`),
      ),
    ],
  },
  {
    id: 'network.local-service',
    weight: 10,
    message: 'Tried to reach services on the loopback interface',
    match: (i) => [
      ...new Set(
        outbound(i)
          .filter((o) => LOOPBACK.test(o.ip))
          .map((o) => `${o.ip}:${o.port ?? '?'}`),
      ),
    ],
  },
  {
    id: 'network.http',
    weight: 10,
    message: 'Sent HTTP requests',
    match: (i) => i.sinks.flatMap((s) => (s.kind === 'http' ? [`${s.method} ${s.url}`] : [])),
  },
  {
    id: 'network.tls',
    weight: 10,
    message: 'Opened TLS sessions',
    match: (i) => i.sinks.flatMap((s) => (s.kind === 'tls' ? [`${s.sni ?? s.ip}:${s.port}`] : [])),
  },
  {
    id: 'ransomware.bulk-encrypt',
    weight: 60,
    message: 'Rewrote many user documents with high-entropy (encrypted-looking) content',
    match: (i) => {
      const rewritten = i.changes.filter(
        (c) =>
          c.decoy &&
          c.state === 'modified' &&
          (c.entropyAfter ?? 0) >= HIGH_ENTROPY &&
          (c.entropyBefore ?? 8) < HIGH_ENTROPY - 1 &&
          (c.sizeAfter ?? 0) >= MIN_ENTROPY_BYTES,
      );
      const gone = i.changes.filter((c) => c.decoy && c.state === 'deleted').length;
      const fresh = i.changes.filter(
        (c) =>
          c.state === 'created' &&
          (c.entropyAfter ?? 0) >= HIGH_ENTROPY &&
          (c.sizeAfter ?? 0) >= MIN_ENTROPY_BYTES,
      );
      const ev = [
        ...rewritten.map((c) => `${c.path} ${fmt(c.entropyBefore)}→${fmt(c.entropyAfter)} bits/byte`),
      ];
      ev.push(
        ...fresh
          .slice(0, Math.min(fresh.length, gone))
          .map((c) => `${c.path} created at ${fmt(c.entropyAfter)} bits/byte, original deleted`),
      );
      return ev.length >= 3 ? ev : [];
    },
  },
  {
    id: 'ransomware.mass-delete',
    weight: 25,
    message: 'Deleted or renamed many user documents',
    match: (i, c) => {
      const gone = i.changes.filter((x) => x.decoy && x.state === 'deleted').map((x) => `deleted ${x.path}`);
      const renamed = i.behaviour.files
        .filter((f) => f.ok && f.op === 'rename' && f.path.startsWith(`${c.home}/`))
        .map((f) => `renamed ${f.path} → ${f.to ?? '?'}`);
      const ev = [...gone, ...renamed];
      return ev.length >= 3 ? ev : [];
    },
  },
  {
    id: 'execution.dropped-executable',
    weight: 25,
    message: 'Dropped an executable file (ELF or script) or made a file executable',
    match: (i) => {
      const made = i.changes
        .filter((c) => c.state !== 'deleted' && c.executable && !c.decoy)
        .map((c) => `dropped ${c.path}`);
      const chmod = i.behaviour.files
        .filter((f) => f.op === 'chmod_exec' && f.ok)
        .map((f) => `chmod +x ${f.path}`);
      return [...new Set([...made, ...chmod])];
    },
  },
  {
    id: 'execution.run-dropped',
    weight: 15,
    message: 'Executed a file it had written itself',
    match: (i) => {
      const written = new Set(i.behaviour.files.filter((f) => f.ok && f.op === 'write').map((f) => f.path));
      return i.behaviour.files
        .filter((f) => f.op === 'exec' && written.has(f.path))
        .map((f) => `exec ${f.path}`);
    },
  },
  {
    id: 'resource.fork-bomb',
    weight: 30,
    message: 'Created processes without end until the process limit stopped it',
    match: (i) => {
      const ev: string[] = [];
      if (i.limits.pidsLimitHit) ev.push('pids limit reached');
      if (i.behaviour.forkFailures >= 10)
        ev.push(`${i.behaviour.forkFailures} fork/clone calls failed with EAGAIN`);
      if (i.behaviour.processes.length > 256) ev.push(`${i.behaviour.processes.length} processes`);
      return ev;
    },
  },
  {
    id: 'sandbox.timeout',
    weight: 0,
    message:
      'Still running at the wall-clock limit: the whole sandbox was killed (behaviour after that is unknown)',
    match: (i) => (i.limits.wallClockHit ? ['wall-clock limit'] : []),
  },
  {
    id: 'sandbox.memory-limit',
    weight: 0,
    message: 'Hit the memory limit',
    match: (i) => (i.limits.memoryLimitHit ? ['memory limit reached'] : []),
  },
  {
    id: 'sandbox.crashed',
    weight: 0,
    message: 'The sample crashed',
    match: (i) => {
      const root = i.behaviour.processes.find((p) => p.pid === i.behaviour.rootPid);
      return i.status === 'crashed' && root?.signal
        ? [`killed by ${root.signal}${root.coreDumped ? ' (core dumped)' : ''}`]
        : [];
    },
  },
  {
    id: 'sandbox.limits-fallback',
    weight: 0,
    message: 'cgroup limits were not available: resource limits fell back to rlimits',
    match: (i) => (i.limits.fallback ? [i.limits.fallback] : []),
  },
];

function fmt(n: number | null): string {
  return n === null ? '?' : n.toFixed(2);
}

/** Signature ids, weights and explanations, for documentation and the CLI. */
export const SIGNATURES: readonly { id: string; weight: number; message: string }[] = RULES.map(
  ({ id, weight, message }) => ({ id, weight, message }),
);

export function scoreBehaviour(input: ScoreInput): Scored {
  const mine = input.behaviour.files;
  const ctx: Ctx = {
    home: input.env.home,
    writeAttempts: [
      ...new Set(
        mine
          .filter((f) => f.op === 'write' || f.op === 'chmod_exec')
          .map((f) => f.path)
          .concat(mine.filter((f) => f.op === 'rename' && f.to).map((f) => f.to ?? '')),
      ),
    ],
    readAttempts: [...new Set(mine.filter((f) => f.op === 'read' || f.op === 'write').map((f) => f.path))],
    execs: mine.filter((f) => f.op === 'exec').map((f) => ({ path: f.path, ok: f.ok })),
  };
  const signatures: BehaviourSignature[] = [];
  for (const rule of RULES) {
    const ev = rule.match(input, ctx);
    if (ev.length === 0) continue;
    const shown = ev.slice(0, 12).join('; ') + (ev.length > 12 ? `; … ${ev.length - 12} more` : '');
    signatures.push({
      id: rule.id,
      weight: rule.weight,
      message: rule.message,
      evidence: shown.slice(0, 4096),
    });
  }
  const score = Math.max(
    0,
    Math.min(
      100,
      signatures.reduce((s, x) => s + x.weight, 0),
    ),
  );
  return { signatures, score, verdict: verdictFor(input.status, score) };
}

export function verdictFor(status: SandboxReport['status'], score: number): Verdict {
  if (status === 'refused' || status === 'error') return 'unknown';
  if (score >= MALICIOUS_AT) return 'malicious';
  if (score >= SUSPICIOUS_AT) return 'suspicious';
  // Only a run that ended by itself can vouch for a file; a timeout or crash may hide behaviour.
  return status === 'completed' ? 'benign' : 'unknown';
}
