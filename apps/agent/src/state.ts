import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SensorState } from '@yamori/protocol';
import { readJsonIfExists, writeFileAtomic } from './atomic-file.ts';

/**
 * The agent's state directory (default /var/lib/yamori, 0700): identity (agent id + secret, 0600),
 * the pinned CA, durable cursors, last status for `yamori agent status`, and (owned by their
 * modules) policy.json, queue.db, isolation.json.
 */
export const DEFAULT_STATE_DIR = '/var/lib/yamori';
export const FILES = {
  identity: 'identity.json',
  ca: 'ca.pem',
  cursors: 'cursors.json',
  status: 'status.json',
  policy: 'policy.json',
  queue: 'queue.db',
  isolation: 'isolation.json',
} as const;

export interface Identity {
  url: string;
  agentId: string;
  secret: string;
  tenantId: string;
  groupId: string;
  enrolledAt: string;
  /** False for a plain-http dev server (no CA pinned). */
  pinned: boolean;
}

export interface Cursors {
  commandCursor: number;
  verdictCursor: number;
}

export interface AgentStatusFile {
  agentId: string;
  url: string;
  lastCheckinAt: string | null;
  lastError: string | null;
  policyRevision: number | null;
  queueDepth: number;
  droppedEvents: number;
  /** Per dataset (plus 'poison', 'too_large'). */
  droppedByKind?: Record<string, number>;
  isolated: boolean;
  shedding: string[];
  updatedAt: string;
  pid: number;
  /** Each sensor's state: which protections are on, degraded or off, and why. */
  sensors?: SensorState[];
}

export function loadIdentity(dir: string): Identity | undefined {
  const v = readJsonIfExists(join(dir, FILES.identity)) as Partial<Identity> | undefined;
  if (!v) return undefined;
  if (typeof v.url !== 'string' || typeof v.agentId !== 'string' || typeof v.secret !== 'string') {
    throw new Error(`${join(dir, FILES.identity)} is damaged: enroll again with \`yamori agent enroll\``);
  }
  return v as Identity;
}

export function saveIdentity(dir: string, id: Identity): void {
  writeFileAtomic(join(dir, FILES.identity), JSON.stringify(id, null, 2), 0o600);
}

export function loadCaPem(dir: string): string | null {
  try {
    return readFileSync(join(dir, FILES.ca), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function saveCaPem(dir: string, pem: string): void {
  writeFileAtomic(join(dir, FILES.ca), pem, 0o644);
}

export function loadCursors(dir: string): Cursors {
  const v = readJsonIfExists(join(dir, FILES.cursors)) as Partial<Cursors> | undefined;
  const n = (x: unknown) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : 0);
  return { commandCursor: n(v?.commandCursor), verdictCursor: n(v?.verdictCursor) };
}

export function saveCursors(dir: string, c: Cursors): void {
  writeFileAtomic(join(dir, FILES.cursors), JSON.stringify(c));
}

export function loadStatus(dir: string): AgentStatusFile | undefined {
  return readJsonIfExists(join(dir, FILES.status)) as AgentStatusFile | undefined;
}

export function saveStatus(dir: string, s: AgentStatusFile): void {
  writeFileAtomic(join(dir, FILES.status), JSON.stringify(s, null, 2), 0o644);
}
