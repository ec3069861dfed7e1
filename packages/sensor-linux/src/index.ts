// @yamori/sensor-linux: the C addon's typed face. Importing this module has no side effects;
// loadLinuxSensors() never throws: on a machine where the addon cannot build or load it says
// why and which protections are off, so the agent can report it and keep running.
import { loadNative } from './native.ts';
import { createLinuxSensors } from './sensors.ts';
import type { Protection, SensorLoadResult } from './types.ts';

export type * from './types.ts';
export { FanMask, opensForWrite } from './sensors.ts';
export { TcpState, stateMask, formatIpv6 } from './sock-diag.ts';
export { captureExec, hashFd, type ExecCapture } from './exec-capture.ts';

export const allProtections: readonly Protection[] = [
  'exec-gate',
  'file-events',
  'decoys',
  'proc-connector',
  'pidfd-kill',
  'network-connections',
];

export function loadLinuxSensors(options: { addonPath?: string } = {}): SensorLoadResult {
  const native = loadNative(options.addonPath);
  if (!native.ok) return { available: false, reason: native.reason, protectionsOff: allProtections };
  return { available: true, sensors: createLinuxSensors(native.addon) };
}
export { createFakeSensors, type FakeExec, type FakeSensors } from './fake.ts';
