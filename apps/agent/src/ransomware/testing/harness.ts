// The ransomware module on the real kernel without a server, for its tests and `npm run bench --
// ransomware`: the real sensor addon, the real process tree fed by the real proc connector (as the
// agent feeds it), and a ModuleContext whose respond() is the agent's real responder (mode,
// exclusions, pidfd kills, alerts). Only the alert sink (an array) and host isolation (never asked
// for by this module) stand in for the agent's queue and nftables.
import { randomUUID } from 'node:crypto';
import { indexExclusions } from '@yamori/detection';
import { defaultPolicy, type DetectionEvent, type Policy } from '@yamori/protocol';
import type { LinuxSensors, ProcConnector } from '@yamori/sensor-linux';
import { createIsolation, createProcessKiller } from '../../commands.ts';
import { toProcConnectorEvent } from '../../linux-sensors.ts';
import type { ModuleContext } from '../../modules.ts';
import type { AppliedPolicy } from '../../policy-store.ts';
import { createProcReader } from '../../proc-reader.ts';
import { createProcessTree, type ProcessTree } from '../../process-tree.ts';
import { createResponder } from '../../response.ts';
import { createRansomwareModule, type RansomwareModule, type RansomwareModuleOptions } from '../module.ts';

export interface Harness {
  module: RansomwareModule;
  ctx: ModuleContext;
  tree: ProcessTree;
  alerts: DetectionEvent[];
  /** Apply a new policy revision (as the policy store does on check-in). */
  setPolicy(policy: Policy): void;
  stop(): Promise<void>;
}

export function ransomwarePolicy(mode: 'off' | 'monitor' | 'block', folders: string[], exclusions: Policy['exclusions'] = []): Policy {
  const p = defaultPolicy();
  p.modules.ransomware = { mode, decoyFolders: folders };
  p.exclusions = exclusions;
  return p;
}

export async function startHarness(
  native: LinuxSensors,
  stateDir: string,
  policy: Policy,
  options: RansomwareModuleOptions = {},
): Promise<Harness> {
  const reader = createProcReader();
  const tree = createProcessTree({ reader, now: Date.now, newId: randomUUID });
  tree.seed();
  let revision = 1;
  const applyDoc = (document: Policy): AppliedPolicy => ({
    revision: revision++,
    document,
    exclusions: indexExclusions(document.exclusions),
    blocklist: new Set(),
    appliedAt: new Date().toISOString(),
  });
  let applied = applyDoc(policy);
  const alerts: DetectionEvent[] = [];
  const respond = createResponder({
    applied: () => applied,
    fallback: defaultPolicy(),
    tree,
    kill: createProcessKiller({ reader, pidfds: { open: (pid) => native.pidfdOpen(pid), send: (fd, sig) => native.killPidfd(fd, sig) } }),
    isolation: createIsolation({ runNft: async () => undefined, serverPeers: async () => [], stateDir }),
    record: (events) => alerts.push(...events),
    log: () => undefined,
    now: Date.now,
    newId: randomUUID,
    language: 'en',
  });
  const ctx: ModuleContext = {
    policy: () => applied.document,
    applied: () => applied,
    record: () => undefined,
    respond,
    tree,
    log: () => undefined,
    now: Date.now,
    newId: randomUUID,
    stateDir,
    native,
  };
  const module = createRansomwareModule(options);
  // the agent's wiring: proc connector → tree → module
  const proc: ProcConnector = native.startProcConnector({
    onEvents: (events) => {
      for (const e of events) {
        const ev = toProcConnectorEvent(e);
        if (!ev) continue;
        tree.handle(ev);
        module.onProcEvent?.(ev);
      }
    },
  });
  await module.start(ctx);
  return {
    module,
    ctx,
    tree,
    alerts,
    setPolicy(p) {
      applied = applyDoc(p);
      module.applyPolicy?.(applied);
    },
    async stop() {
      await module.stop();
      proc.stop();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait for a condition (the event loop keeps running, so the sensors' callbacks arrive). */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}
