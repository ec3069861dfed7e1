/**
 * Entry point of a detonation worker: `node apps/sandbox/src/main.ts` (as root; it drops to an
 * unprivileged uid for every sample). Configuration from the environment, see config.ts.
 */
import { loadConfig } from './config.ts';
import { createWorker } from './worker.ts';
import { detonate, sweepStaleRuns } from './detonate.ts';
import { sweepStaleCgroups } from './limits.ts';

const config = loadConfig(process.env);
const log = (msg: string): void => {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), service: 'sandbox', workerId: config.workerId, msg })}\n`,
  );
};
const ac = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ac.abort());
await sweepStaleCgroups();
for (const dir of await sweepStaleRuns(config.workDir ?? undefined))
  log(`removed the leftovers of a dead worker: ${dir}`);
const worker = createWorker({
  intelUrl: config.intelUrl,
  workerKey: config.workerKey,
  workerId: config.workerId,
  waitS: config.waitS,
  log,
  detonate: (sample, job) =>
    detonate(sample, job, {
      maxWallClockS: config.maxWallClockS,
      log,
      ...(config.workDir ? { workDir: config.workDir } : {}),
    }),
});
log(`worker started against ${config.intelUrl}`);
await worker.run(ac.signal);
log('worker stopped');
