import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import {
  classifySample,
  createWorker,
  detonateDetailed,
  sweepStaleCgroups,
  sweepStaleRuns,
  type DetonationDetails,
} from '@yamori/sandbox';

/**
 * `yamori sandbox …`: `worker` (claim jobs from intel and detonate them until stopped) and
 * `run FILE` (detonate one local file and print the report). Returns the exit code; never
 * calls process.exit itself. Both need root: the sandbox builds namespaces, cgroups and tmpfs
 * mounts, then runs the sample as an unprivileged uid.
 */
export interface SandboxCommandDeps {
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** For `worker`: resolves when the worker should stop (default: SIGTERM/SIGINT). */
  stopSignal?: Promise<void>;
}

const USAGE = `usage:
  yamori sandbox worker --intel URL --key KEY [--id WORKER_ID] [--wait S] [--max-wall S] [--work-dir DIR]
  yamori sandbox run FILE [--json] [--timeout S] [--trace OUT]`;

export async function sandboxCommand(args: string[], deps: SandboxCommandDeps = {}): Promise<number> {
  const out = deps.out ?? ((l: string) => void process.stdout.write(`${l}\n`));
  const err = deps.err ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const [sub, ...rest] = args;
  const bad = (msg: string): number => {
    err(`yamori sandbox: ${msg}`);
    err(USAGE);
    return 2;
  };
  const intArg = (
    name: string,
    raw: string | undefined,
    dflt: number,
    min: number,
    max: number,
  ): number | string => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    return Number.isInteger(n) && n >= min && n <= max
      ? n
      : `--${name} must be an integer between ${min} and ${max}`;
  };

  if (sub === 'worker') {
    let values: {
      intel?: string;
      key?: string;
      id?: string;
      wait?: string;
      'max-wall'?: string;
      'work-dir'?: string;
    };
    try {
      ({ values } = parseArgs({
        args: rest,
        options: {
          intel: { type: 'string' },
          key: { type: 'string' },
          id: { type: 'string' },
          wait: { type: 'string' },
          'max-wall': { type: 'string' },
          'work-dir': { type: 'string' },
        },
        allowPositionals: false,
      }));
    } catch (e) {
      return bad((e as Error).message);
    }
    if (!values.intel || !/^https?:\/\/\S+$/.test(values.intel))
      return bad('--intel URL (http or https) is required');
    if (!values.key) return bad('--key KEY (the worker key issued by intel) is required');
    const wait = intArg('wait', values.wait, 20, 0, 60);
    const maxWall = intArg('max-wall', values['max-wall'], 120, 1, 600);
    if (typeof wait === 'string') return bad(wait);
    if (typeof maxWall === 'string') return bad(maxWall);
    if (values['work-dir'] !== undefined && !values['work-dir'].startsWith('/'))
      return bad('--work-dir must be an absolute path');
    const workerId = values.id ?? `${hostname()}-${process.pid}`;
    if (workerId.length === 0 || workerId.length > 128) return bad('--id must be 1 to 128 characters');
    const log = (msg: string): void => err(`${new Date().toISOString()} sandbox[${workerId}] ${msg}`);
    const workDir = values['work-dir'];
    const worker = createWorker({
      intelUrl: values.intel,
      workerKey: values.key,
      workerId,
      waitS: wait,
      log,
      detonate: async (sample, job) =>
        (
          await detonateDetailed(sample, job, {
            maxWallClockS: maxWall,
            log,
            ...(workDir ? { workDir } : {}),
          })
        ).report,
    });
    const ac = new AbortController();
    const stop =
      deps.stopSignal ??
      new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    void stop.then(() => ac.abort());
    await sweepStaleCgroups();
    for (const dir of await sweepStaleRuns(workDir)) log(`removed the leftovers of a dead worker: ${dir}`);
    log(`worker started against ${values.intel}`);
    await worker.run(ac.signal);
    log('worker stopped');
    return 0;
  }

  if (sub === 'run') {
    let values: { json?: boolean; timeout?: string; trace?: string };
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean' }, timeout: { type: 'string' }, trace: { type: 'string' } },
        allowPositionals: true,
      }));
    } catch (e) {
      return bad((e as Error).message);
    }
    if (positionals.length !== 1 || !positionals[0]) return bad('run takes exactly one FILE');
    const timeout = intArg('timeout', values.timeout, 30, 1, 600);
    if (typeof timeout === 'string') return bad(timeout);
    const file = positionals[0];
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      err(`yamori sandbox: cannot read ${file}: ${(e as Error).message}`);
      return 1;
    }
    const cls = classifySample(bytes);
    const job = {
      id: `local-${process.pid}-${Date.now()}`,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      fileName: basename(file),
      kind: cls.ok ? cls.kind : ('elf' as const),
      timeoutS: timeout,
    };
    const details = await detonateDetailed(bytes, job, {
      maxWallClockS: timeout,
      ...(values.trace ? { keepTraceAt: values.trace } : {}),
    });
    if (values.json) out(JSON.stringify(details.report, null, 2));
    else for (const line of describe(file, job.sha256, details)) out(line);
    return details.report.status === 'error' ? 1 : 0;
  }

  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? err : out)(USAGE);
    return sub === undefined ? 2 : 0;
  }
  return bad(`unknown subcommand "${sub}"`);
}

function describe(file: string, sha256: string, d: DetonationDetails): string[] {
  const r = d.report;
  const lines = [
    `${file}  sha256 ${sha256}`,
    `status ${r.status}${r.reason ? ` (${r.reason})` : ''} · verdict ${r.verdict} · score ${r.score} · ${r.durationMs} ms`,
  ];
  if (d.environment.isolation.length > 0)
    lines.push('isolation:', ...d.environment.isolation.map((i) => `  ${i}`));
  if (d.environment.refused.length > 0)
    lines.push('not enforced on this host:', ...d.environment.refused.map((i) => `  ${i}`));
  if (r.signatures.length > 0) {
    lines.push('signatures:');
    for (const s of r.signatures)
      lines.push(
        `  [${String(s.weight).padStart(3)}] ${s.id}: ${s.message}${s.evidence ? `\n        ${s.evidence}` : ''}`,
      );
  }
  if (r.processes.length > 0) {
    lines.push(`processes (${r.processes.length}):`);
    for (const p of r.processes.slice(0, 20))
      lines.push(`  ${p.pid} ← ${p.ppid}  ${p.executable} ${p.args.slice(1).join(' ')}`.trimEnd());
  }
  if (r.files.length > 0) {
    lines.push(`files (${r.files.length}):`);
    for (const f of r.files.slice(0, 30))
      lines.push(`  ${f.op.padEnd(10)} ${f.path}${f.sha256 ? `  ${f.sha256}` : ''}`);
  }
  if (r.network.length > 0) {
    lines.push(`network (${r.network.length}):`);
    for (const n of r.network.slice(0, 30))
      lines.push(
        `  ${n.kind.padEnd(7)} ${[n.domain, n.ip && n.port !== undefined ? `${n.ip}:${n.port}` : n.ip, n.url].filter(Boolean).join('  ')}`,
      );
  }
  if (r.indicators.length > 0)
    lines.push('indicators:', ...r.indicators.map((i) => `  ${i.type} ${i.value}`));
  return lines;
}
