// The server's `scan` command: scan paths on this host with the agent's current engines,
// optionally quarantining what is found, and answer with the summary and the detections.
import { Type } from 'typebox';
import { parseWith, type Command, type CommandResult } from '@yamori/protocol';
import type { QuarantineStore } from '../quarantine/store.ts';
import type { ScanEngines } from './file-scan.ts';
import { scanTree, type ScanSummary } from './scanner.ts';

const Params = Type.Object(
  {
    paths: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 }),
    quarantine: Type.Optional(Type.Boolean()),
    followSymlinks: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export interface ScanCommandDeps {
  engines: () => ScanEngines;
  /** Needed only for `quarantine: true`. */
  quarantineStore?: () => Promise<QuarantineStore>;
  jobs?: number;
}

interface Answer {
  summary: ScanSummary;
  detections: { path: string; sha256: string | null; names: string[]; quarantineId?: string; quarantineError?: string }[];
  errors: { path: string; message: string }[];
  truncated: boolean;
}

export function createScanCommandHandler(deps: ScanCommandDeps): (cmd: Command) => Promise<CommandResult> {
  return async (cmd) => {
    try {
      const p = parseWith(Params, cmd.params, 'scan parameters');
      const store = p.quarantine ? await (deps.quarantineStore ?? (() => Promise.reject(new Error('no quarantine store configured'))))() : null;
      const detections: Answer['detections'] = [];
      const errors: Answer['errors'] = [];
      const summary = await scanTree({
        paths: p.paths,
        engines: deps.engines(),
        followSymlinks: p.followSymlinks ?? false,
        jobs: deps.jobs ?? 1,
        ...(store ? { exclude: (path: string) => path === store.dir } : {}),
        onEvent: async (e) => {
          if (e.type === 'error') errors.push({ path: e.path, message: e.message });
          if (e.type !== 'file') return;
          const r = e.result;
          if (r.error) errors.push({ path: r.path, message: r.error.message });
          if (!r.detections.length) return;
          const d: Answer['detections'][number] = { path: r.path, sha256: r.sha256, names: r.detections.map((x) => `${x.engine}:${x.name}`) };
          if (store) {
            try {
              d.quarantineId = (await store.quarantine(r.path, { reason: `server scan command ${cmd.id}`, detections: d.names, source: 'server', ...(r.sha256 ? { expectedSha256: r.sha256 } : {}) })).id;
            } catch (err) {
              d.quarantineError = (err as Error).message;
            }
          }
          detections.push(d);
        },
      });
      // The result field is bounded: keep the summary, drop list items until it fits.
      const answer: Answer = { summary, detections, errors, truncated: false };
      let text = JSON.stringify(answer);
      while (text.length > 65536 && (answer.errors.length || answer.detections.length)) {
        if (answer.errors.length) answer.errors.length = Math.floor(answer.errors.length / 2);
        else answer.detections.length = Math.floor(answer.detections.length / 2);
        answer.truncated = true;
        text = JSON.stringify(answer);
      }
      return { status: 'done', output: text };
    } catch (err) {
      return { status: 'failed', output: (err as Error).message.slice(0, 65536) };
    }
  };
}
