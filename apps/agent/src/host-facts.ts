import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { arch, hostname, networkInterfaces, release } from 'node:os';
import { join } from 'node:path';
import type { HostFacts } from '@yamori/protocol';

/**
 * What the server needs to know about this host, plus other security software that may conflict
 * with Yamori (another fanotify user, fapolicyd, ClamAV on-access, auditd rules, other EDRs).
 * `root` lets tests point at a fake file system tree (etc/, proc/).
 */
export type ConflictingProduct = NonNullable<HostFacts['conflicts']>[number];

export interface HostFactsDeps {
  agentVersion: string;
  root?: string;
  selfPid?: number;
  hostname?: () => string;
  kernel?: () => string;
  arch?: () => string;
  ips?: () => string[];
}

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};
const ls = (p: string): string[] => {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
};
const link = (p: string): string | undefined => {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
};

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}

/** Other products by process name (comm is at most 15 characters). */
export const PRODUCTS: readonly { comm: string; name: string; kind: string }[] = [
  { comm: 'falcon-sensor', name: 'CrowdStrike Falcon', kind: 'edr' },
  { comm: 'SentinelAgent', name: 'SentinelOne', kind: 'edr' },
  { comm: 'mdatp', name: 'Microsoft Defender for Endpoint', kind: 'edr' },
  { comm: 'wdavdaemon', name: 'Microsoft Defender for Endpoint', kind: 'edr' },
  { comm: 'elastic-endpoint', name: 'Elastic Defend', kind: 'edr' },
  { comm: 'elastic-endpoin', name: 'Elastic Defend', kind: 'edr' },
  { comm: 'osqueryd', name: 'osquery', kind: 'telemetry' },
  { comm: 'wazuh-agentd', name: 'Wazuh agent', kind: 'hids' },
  { comm: 'falco', name: 'Falco', kind: 'runtime_security' },
  { comm: 'tetragon', name: 'Tetragon', kind: 'runtime_security' },
  { comm: 'fapolicyd', name: 'fapolicyd', kind: 'application_control' },
  { comm: 'clamonacc', name: 'ClamAV on-access', kind: 'antivirus' },
  { comm: 'auditd', name: 'auditd', kind: 'audit' },
];

interface ProcInfo {
  pid: number;
  comm: string;
}

function processes(procRoot: string): ProcInfo[] {
  return ls(procRoot)
    .filter((n) => /^\d+$/.test(n))
    .map((n) => ({ pid: Number(n), comm: (read(join(procRoot, n, 'comm')) ?? '').trim() }))
    .filter((p) => p.comm !== '');
}

/** Processes (other than us) holding a fanotify fd, with the fdinfo flags of the first one. */
export function fanotifyUsers(procRoot: string, selfPid: number): ConflictingProduct[] {
  const out: ConflictingProduct[] = [];
  for (const p of processes(procRoot)) {
    if (p.pid === selfPid) continue;
    const fdDir = join(procRoot, String(p.pid), 'fd');
    for (const fd of ls(fdDir)) {
      if (link(join(fdDir, fd)) !== 'anon_inode:[fanotify]') continue;
      const info = read(join(procRoot, String(p.pid), 'fdinfo', fd)) ?? '';
      const flags = /^fanotify flags:(\S+) event-flags:(\S+)/m.exec(info);
      const marks = info.split('\n').filter((l) => l.startsWith('fanotify ino:') || l.startsWith('fanotify mnt_id:') || l.startsWith('fanotify sdev:')).length;
      out.push({
        name: p.comm.slice(0, 128),
        kind: 'fanotify',
        detail: `pid ${p.pid} (${p.comm}) holds a fanotify group${flags ? ` flags ${flags[1]} event-flags ${flags[2]}` : ''}, ${marks} mark(s); two permission-event users can slow every exec and deadlock each other`.slice(0, 1024),
      });
      break;
    }
  }
  return out;
}

function auditRules(etc: string): string[] {
  const dir = join(etc, 'audit/rules.d');
  return ls(dir)
    .filter((f) => f.endsWith('.rules'))
    .flatMap((f) => (read(join(dir, f)) ?? '').split('\n').map((l) => l.trim()))
    .filter((l) => /^-(a|w)\s/.test(l));
}

function clamdOnAccess(etc: string): boolean {
  const conf = read(join(etc, 'clamav/clamd.conf')) ?? '';
  return /^\s*(OnAccessIncludePath|OnAccessMountPath|OnAccessPrevention\s+yes)/im.test(conf);
}

export function detectConflicts(root: string, selfPid: number): ConflictingProduct[] {
  const procRoot = join(root, 'proc');
  const etc = join(root, 'etc');
  const procs = processes(procRoot).filter((p) => p.pid !== selfPid);
  const out: ConflictingProduct[] = [];
  const seen = new Set<string>();
  for (const prod of PRODUCTS) {
    const hits = procs.filter((p) => p.comm === prod.comm);
    if (hits.length === 0 || seen.has(prod.name)) continue;
    let detail = `running as pid ${hits.map((h) => h.pid).join(', ')}`;
    if (prod.comm === 'auditd') {
      const rules = auditRules(etc);
      if (rules.length === 0) continue; // auditd without rules costs nothing
      detail += `; ${rules.length} audit rule(s) in /etc/audit/rules.d (e.g. ${rules[0]})`;
    }
    seen.add(prod.name);
    out.push({ name: prod.name, kind: prod.kind, detail: detail.slice(0, 1024) });
  }
  if (!seen.has('ClamAV on-access') && procs.some((p) => p.comm === 'clamd') && clamdOnAccess(etc)) {
    out.push({ name: 'ClamAV on-access', kind: 'antivirus', detail: 'clamd runs with OnAccess settings in /etc/clamav/clamd.conf' });
  }
  out.push(...fanotifyUsers(procRoot, selfPid));
  return out.slice(0, 32);
}

function defaultIps(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
    .map((a) => a.address);
}

export function collectHostFacts(deps: HostFactsDeps): HostFacts {
  const root = deps.root ?? '/';
  const osr = parseOsRelease(read(join(root, 'etc/os-release')) ?? read(join(root, 'usr/lib/os-release')) ?? '');
  const machineId = (read(join(root, 'etc/machine-id')) ?? read(join(root, 'var/lib/dbus/machine-id')) ?? '').trim();
  if (machineId.length < 8) {
    throw new Error('cannot read /etc/machine-id: run `systemd-machine-id-setup` (or `dbus-uuidgen --ensure=/etc/machine-id`) and retry');
  }
  const conflicts = detectConflicts(root, deps.selfPid ?? process.pid);
  return {
    hostname: ((deps.hostname ?? hostname)() || 'unknown').slice(0, 253),
    machineId: machineId.slice(0, 128),
    os: {
      family: (osr['ID'] ?? 'linux').slice(0, 32),
      name: (osr['NAME'] ?? 'Linux').slice(0, 128),
      version: (osr['VERSION_ID'] ?? osr['VERSION'] ?? '').slice(0, 64),
      kernel: (deps.kernel ?? release)().slice(0, 128),
    },
    arch: (deps.arch ?? arch)().slice(0, 32),
    ips: (deps.ips ?? defaultIps)().slice(0, 64),
    agentVersion: deps.agentVersion,
    ...(conflicts.length > 0 ? { conflicts } : {}),
  };
}
