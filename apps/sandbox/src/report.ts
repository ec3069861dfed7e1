/**
 * Assembles the SandboxReport (the intel contract) from the facts of one run. Pure.
 */
import type { SandboxReport } from '@yamori/protocol';
import { isIndicatorDomain, isPublicIp, scoreBehaviour, type ScoreInput } from './score.ts';

type ReportFile = SandboxReport['files'][number];
type ReportNet = SandboxReport['network'][number];
type ReportIndicator = SandboxReport['indicators'][number];

export interface ReportInput extends ScoreInput {
  durationMs: number;
  reason?: string;
  /** `nameFor(ip)` of the fake DNS's address book. */
  domainFor?: (ip: string) => string | null;
}

const NOISE = /^\/(?:dev|proc|sys)\//;

export function buildReport(input: ReportInput): SandboxReport {
  const { signatures, score, verdict } = scoreBehaviour(input);
  const b = input.behaviour;
  const hashes = new Map(
    input.changes.filter((c) => c.sha256After).map((c) => [c.path, c.sha256After ?? '']),
  );

  const files: ReportFile[] = [];
  const seenFile = new Set<string>();
  for (const f of b.files) {
    if (!f.ok || f.op === 'read' || f.op === 'exec' || NOISE.test(f.path)) continue;
    const path = f.op === 'rename' ? `${f.path} -> ${f.to ?? '?'}` : f.path;
    const key = `${f.op}\0${path}`;
    if (seenFile.has(key)) continue;
    seenFile.add(key);
    const rec: ReportFile = { path: path.slice(0, 4096), op: f.op };
    const sha =
      f.op === 'write' || f.op === 'chmod_exec'
        ? hashes.get(f.path)
        : f.op === 'rename' && f.to
          ? hashes.get(f.to)
          : undefined;
    if (sha) rec.sha256 = sha;
    files.push(rec);
  }

  const network: ReportNet[] = [];
  const seenNet = new Set<string>();
  const pushNet = (n: ReportNet): void => {
    const key = JSON.stringify(n);
    if (seenNet.has(key)) return;
    seenNet.add(key);
    network.push(n);
  };
  for (const s of input.sinks) {
    if (s.kind === 'dns')
      pushNet({ kind: 'dns', domain: s.domain.slice(0, 253), ...(s.ip ? { ip: s.ip } : {}) });
    else if (s.kind === 'http')
      pushNet({
        kind: 'http',
        ip: s.ip,
        port: s.port,
        url: s.url.slice(0, 2048),
        ...(s.domain ? { domain: s.domain.slice(0, 253) } : {}),
      });
    else if (s.kind === 'tls') {
      const domain = s.sni ?? s.domain;
      pushNet({ kind: 'tls', ip: s.ip, port: s.port, ...(domain ? { domain: domain.slice(0, 253) } : {}) });
    }
  }
  for (const n of b.network) {
    if (n.family === 'unix') continue;
    if (n.address === input.env.resolver && n.port === 53) continue;
    const domain = input.domainFor?.(n.address) ?? null;
    pushNet({
      kind: 'connect',
      ip: n.address.slice(0, 45),
      ...(n.port !== null ? { port: n.port } : {}),
      ...(domain ? { domain: domain.slice(0, 253) } : {}),
    });
  }

  const indicators: ReportIndicator[] = [];
  const seenInd = new Set<string>();
  const pushInd = (type: ReportIndicator['type'], value: string): void => {
    const key = `${type}:${value}`;
    if (seenInd.has(key) || indicators.length >= 1024) return;
    seenInd.add(key);
    indicators.push({ type, value });
  };
  for (const n of network) {
    if (n.domain && isIndicatorDomain(n.domain, input.env.hostname))
      pushInd('domain', n.domain.toLowerCase());
  }
  for (const n of network)
    if (n.kind === 'http' && n.url && n.domain && isIndicatorDomain(n.domain, input.env.hostname))
      pushInd('url', n.url);
  for (const n of network) if (n.ip && isPublicIp(n.ip)) pushInd('ip', n.ip);
  for (const c of input.changes) {
    if (c.state !== 'deleted' && !c.decoy && c.executable && c.sha256After) pushInd('sha256', c.sha256After);
  }

  const processes = b.processes.slice(0, 1024).map((p) => ({
    pid: p.pid,
    ppid: p.ppid,
    executable: p.executable.slice(0, 4096),
    args: p.args.slice(0, 256).map((a) => a.slice(0, 4096)),
  }));

  const report: SandboxReport = {
    status: input.status,
    verdict,
    score,
    durationMs: Math.max(0, Math.round(input.durationMs)),
    signatures: signatures.slice(0, 256),
    processes,
    files: files.slice(0, 4096),
    network: network.slice(0, 4096),
    indicators,
  };
  if (input.reason) report.reason = input.reason.slice(0, 2048);
  return report;
}

/** The report for a sample that was never run (refused type, worker error). */
export function emptyReport(status: 'refused' | 'error', reason: string, durationMs = 0): SandboxReport {
  return {
    status,
    reason: reason.slice(0, 2048),
    verdict: 'unknown',
    score: 0,
    durationMs,
    signatures: [],
    processes: [],
    files: [],
    network: [],
    indicators: [],
  };
}
