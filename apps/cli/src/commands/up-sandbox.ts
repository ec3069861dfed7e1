import { existsSync } from 'node:fs';
import { createWorker, detonate, sweepStaleCgroups, sweepStaleRuns } from '@yamori/sandbox';

/**
 * The co-located detonation worker of `yamori up`. It needs root (it drops to an unprivileged uid
 * for every sample) and strace; bubblewrap is used when installed. Returns why it cannot run, or a stop.
 */
export async function startLocalSandbox(intelUrl: string, workerKey: string): Promise<{ stop(): Promise<void> } | { off: string }> {
  if (process.getuid?.() !== 0) return { off: 'the sandbox needs root to build its namespaces and cgroups' };
  if (!existsSync('/usr/bin/strace')) return { off: 'strace is not installed (apt-get install strace bubblewrap)' };
  await sweepStaleCgroups();
  await sweepStaleRuns(undefined);
  const ac = new AbortController();
  const worker = createWorker({
    intelUrl,
    workerKey,
    workerId: 'yamori-up',
    detonate: (sample, job) => detonate(sample, job, {}),
  });
  const done = worker.run(ac.signal);
  return {
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}
