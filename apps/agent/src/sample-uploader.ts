import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { identifyFileType, uploadDecision } from '@yamori/detection';
import type { Policy } from '@yamori/protocol';
import type { AgentClient } from './agent-client.ts';

/**
 * Unknown executables go to the sandbox through the server, when the policy's upload rules allow
 * (checked here first, so a refused file never leaves the host, and again by the server). One upload
 * at a time, each file once; a file that changed since its exec is not sent under the old hash.
 */
export interface SampleUploader {
  offer(sha256: string, path: string): void;
  readonly stats: { uploaded: number; refusedHere: number; refusedByServer: number; failed: number };
  idle(): Promise<void>;
}

export function createSampleUploader(deps: {
  client: Pick<AgentClient, 'uploadSample'>;
  policy: () => Policy;
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  maxRemembered?: number;
}): SampleUploader {
  const seen = new Set<string>();
  const queue: Array<{ sha256: string; path: string }> = [];
  const stats = { uploaded: 0, refusedHere: 0, refusedByServer: 0, failed: 0 };
  let running: Promise<void> | undefined;

  async function one(sha256: string, path: string): Promise<void> {
    const upload = deps.policy().upload;
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return; // gone since its exec
    try {
      const { size } = await fh.stat();
      const head = Buffer.alloc(Math.min(size, 64 * 1024));
      await fh.read(head, 0, head.length, 0);
      const decision = uploadDecision(upload, { kind: identifyFileType(head).kind, sizeBytes: size, path });
      if (!decision.allowed) {
        stats.refusedHere++;
        return;
      }
      const bytes = await fh.readFile();
      if (createHash('sha256').update(bytes).digest('hex') !== sha256) return;
      const r = await deps.client.uploadSample(bytes, { sha256, path });
      if (r.kind === 'queued') {
        stats.uploaded++;
        deps.log('info', 'sample sent for detonation', { sha256, path });
      } else if (r.kind === 'refused') stats.refusedByServer++;
      else {
        stats.failed++;
        seen.delete(sha256); // try again when it runs next
        deps.log('warn', 'sample upload failed', { sha256, message: r.message });
      }
    } finally {
      await fh.close();
    }
  }

  async function pump(): Promise<void> {
    for (let next = queue.shift(); next; next = queue.shift()) {
      try {
        await one(next.sha256, next.path);
      } catch (e) {
        stats.failed++;
        seen.delete(next.sha256);
        deps.log('warn', 'sample upload failed', { sha256: next.sha256, error: (e as Error).message });
      }
    }
  }

  return {
    stats,
    offer(sha256, path) {
      if (seen.has(sha256)) return;
      if (seen.size >= (deps.maxRemembered ?? 50_000)) seen.clear();
      seen.add(sha256);
      queue.push({ sha256, path });
      running ??= pump().finally(() => (running = undefined));
    },
    idle: async () => {
      while (running) await running;
    },
  };
}
