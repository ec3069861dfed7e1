// Inputs shared by the ingest benchmarks: a realistic process event, and the Sigma rule files
// (Yamori's pack, then the SigmaHQ Linux corpus where it is installed).
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function sampleEvent(i: number) {
  const bins = ['/usr/bin/bash', '/usr/bin/python3.11', '/usr/sbin/sshd', '/usr/bin/curl', '/usr/lib/systemd/systemd-journald'];
  const exe = bins[i % bins.length] ?? '/usr/bin/true';
  return {
    '@timestamp': new Date(Date.now() + i).toISOString(),
    event: { id: randomUUID(), dataset: 'yamori.process', kind: 'event', category: ['process'], type: ['start'], action: 'exec' },
    process: {
      entity_id: `ent-${i}`,
      pid: 1000 + (i % 30000),
      ppid: 1,
      name: exe.split('/').pop(),
      executable: exe,
      args: [exe, '-c', `echo job ${i}`],
      command_line: `${exe} -c "echo job ${i}"`,
      working_directory: '/home/alice',
      hash: { sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
      user: { id: '1000', name: 'alice' },
      parent: { entity_id: 'ent-parent', pid: 1, executable: '/usr/lib/systemd/systemd' },
    },
  };
}

/** Every Sigma rule file of Yamori's pack and the SigmaHQ Linux corpus, in a stable order. */
export function sigmaRuleFiles(): string[] {
  const root = join(import.meta.dirname, '..');
  const dirs = [join(root, 'packages/detection/rules/yamori'), process.env['YAMORI_SIGMA_CORPUS'] ?? '/work/shared/corpora/sigma-linux'].filter((d) => existsSync(d));
  return dirs.flatMap((d) =>
    readdirSync(d, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.yml'))
      .sort()
      .map((f) => join(d, f)),
  );
}
