// The raw shape of the C addon (build/Release/yamori_sensor.node). Only this package's loader
// uses it; everything else receives the typed interfaces from index.ts.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import type { NativeExecCapture, ProcExecSnapshot } from './types.ts';
import { fileURLToPath } from 'node:url';

export type NativeHandle = { readonly __native: unique symbol };

export interface NativeExecEvent {
  kind: 'exec';
  id: number;
  pid: number;
  fd: number;
  pidfd: number;
  path: string;
  failClosed: boolean;
  timeoutMs: number;
  dev: number;
  ino: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  capture?: NativeExecCapture;
}
export type NativeGateMessage =
  | NativeExecEvent
  | { kind: 'expired'; id: number; pid: number; verdict: 'allow' | 'deny' }
  | { kind: 'overflow'; count: number }
  | { kind: 'mounts'; count: number }
  | { kind: 'fatal'; errno: number; message: string };

export interface NativeGateOptions {
  timeoutMs: number;
  failClosedPrefixes: string[];
  failClosedMemfd: boolean;
  allowChildren: boolean;
  mounts?: string[];
  markMode: 'filesystem' | 'mount';
  followMounts: boolean;
  maxPending: number;
  cacheSize: number;
  capture: boolean;
  captureEnv: string[];
}

export interface NativeProcEvent {
  kind: 'fork' | 'exec' | 'exit' | 'uid' | 'gid' | 'sid' | 'ptrace' | 'comm' | 'coredump';
  pid: number;
  tgid: number;
  cpu: number;
  timestampNs: number;
  parentPid?: number;
  parentTgid?: number;
  exitCode?: number;
  exitSignal?: number;
  tracerPid?: number;
  tracerTgid?: number;
  real?: number;
  effective?: number;
  comm?: string;
  startTicks?: number;
  snapshot?: ProcExecSnapshot | null;
}

export interface NativeFileEvent {
  kind: 'file' | 'decoy';
  mask: number;
  pid: number;
  pidfd: number;
  dir: string;
  name: string;
  openFlags?: number;
  denied?: boolean;
  frozen?: boolean;
}

export interface NativeWrittenFile {
  fd: number;
  pid: number;
  dev: number;
  ino: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  path: string;
}

export interface NativeCloseWriteOptions {
  mounts?: string[];
  markMode: 'filesystem' | 'mount';
  followMounts: boolean;
  maxSize: number;
  attrib: boolean;
}

export interface NativeAddon {
  probe(): Record<string, string>;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  fdPath(fd: number): string;
  gateStart(options: NativeGateOptions, onMessage: (m: NativeGateMessage) => void): NativeHandle;
  gateRespond(h: NativeHandle, id: number, allow: boolean, cache: boolean, ignoreMark: boolean): boolean;
  gateStop(h: NativeHandle): void;
  gateStats(h: NativeHandle): Record<string, number | boolean | string>;
  gateInvalidate(h: NativeHandle, dev: number, ino: number, path?: string): boolean;
  gateInvalidateAll(h: NativeHandle): void;
  gateAllowPid(h: NativeHandle, pid: number, allowed: boolean): void;
  gateConfigure(h: NativeHandle, options: Partial<NativeGateOptions>): void;
  gateRef(h: NativeHandle, ref: boolean): void;
  procStart(
    options: { receiveBufferBytes: number; envNames: readonly string[] },
    onBatch: (events: NativeProcEvent[]) => void,
  ): NativeHandle;
  procStop(h: NativeHandle): void;
  procStats(h: NativeHandle): Record<string, number>;
  watchStart(
    options: { reportPidfd: boolean; freezeDeniedWriters: boolean },
    onBatch: (batch: { events: NativeFileEvent[]; overflow: boolean }) => void,
  ): NativeHandle;
  watchMark(
    h: NativeHandle,
    path: string,
    mask: number,
    kind: 'inode' | 'mount' | 'filesystem',
    remove: boolean,
  ): void;
  watchDecoy(h: NativeHandle, path: string, remove: boolean): void;
  watchExcludePid(h: NativeHandle, pid: number, excluded: boolean): void;
  watchStop(h: NativeHandle): void;
  watchStats(h: NativeHandle): Record<string, number | boolean>;
  xwatchStart(
    options: NativeCloseWriteOptions,
    onBatch: (batch: { candidates: NativeWrittenFile[]; error?: string }) => void,
  ): NativeHandle;
  xwatchStop(h: NativeHandle): void;
  xwatchStats(h: NativeHandle): Record<string, number | boolean | string>;
  sockDiagDump(family: 4 | 6, protocol: 'tcp' | 'udp', stateMask: number): Buffer;
}

export const defaultAddonPath = fileURLToPath(
  new URL('../build/Release/yamori_sensor.node', import.meta.url),
);

export type NativeLoad = { ok: true; addon: NativeAddon } | { ok: false; reason: string };

export function loadNative(path: string = defaultAddonPath): NativeLoad {
  if (process.platform !== 'linux') return { ok: false, reason: `platform ${process.platform} is not Linux` };
  if (!existsSync(path)) {
    return { ok: false, reason: `native addon not built (${path} missing: did node-gyp run during npm ci?)` };
  }
  try {
    const require = createRequire(import.meta.url);
    return { ok: true, addon: require(path) as NativeAddon };
  } catch (err) {
    return { ok: false, reason: `native addon failed to load: ${(err as Error).message}` };
  }
}
