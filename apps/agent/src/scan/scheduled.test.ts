import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileYaraRules, indexExclusions, yaraAvailability } from '@yamori/detection';
import { defaultPolicy, type Policy } from '@yamori/protocol';
import type { Detection, ModuleContext } from '../modules.ts';
import type { AppliedPolicy } from '../policy-store.ts';
import { createScheduledScanModule } from './scheduled.ts';
import { createScanScheduler, type ScanSchedulerDeps } from './schedule.ts';

const RULE = 'rule Marker_One : demo { strings: $a = "sched-yara-marker" condition: $a }\n';
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

const skip = yaraAvailability().ok || !process.env['YAMORI_ALLOW_NO_YARA'] ? false : 'libyara unavailable';

function applied(doc: Policy): AppliedPolicy {
  return { revision: 1, document: doc, exclusions: indexExclusions([]), blocklist: new Set(), appliedAt: new Date(0).toISOString() };
}

void test('a policy schedule runs scans over its paths: YARA pack rules, EICAR and the policy blocklist become alerts; the last run survives a restart', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-sched-'));
  const state = mkdtempSync(join(tmpdir(), 'yamori-sched-state-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'marked.bin'), `prefix sched-yara-marker suffix`);
  writeFileSync(join(dir, 'eicar.com'), EICAR);
  writeFileSync(join(dir, 'clean.txt'), 'nothing here');
  writeFileSync(join(dir, 'blocked.bin'), 'blocked by hash');
  const realBlocked = createHash('sha256').update('blocked by hash').digest('hex');

  const compiled = await compileYaraRules([{ name: 'Demo/rules.yar', source: RULE, namespace: 'pack-1' }]);
  assert.ok(compiled.ruleset);
  const doc = defaultPolicy();
  doc.modules.malware.quarantineOnMalicious = true;
  doc.blocklist = [{ sha256: realBlocked }];
  doc.scheduledScan = { everyHours: 24, paths: [dir], maxFileMb: 10 };
  const detections: Detection[] = [];
  let scheduled: ScanSchedulerDeps | undefined;
  const ctx = {
    policy: () => doc,
    applied: () => applied(doc),
    record: () => undefined,
    respond: (d: Detection) => {
      detections.push(d);
      return Promise.resolve({ mode: 'monitor' as const, done: [], failed: [] });
    },
    log: () => undefined,
    now: () => 1_800_000_000_000,
    newId: () => 'id',
    stateDir: state,
  } as unknown as ModuleContext;
  const deps = {
    yara: () => ({ ruleset: compiled.ruleset, packName: (ns: string) => (ns === 'pack-1' ? 'Demo' : ns) }),
    scheduler: (d: ScanSchedulerDeps) => {
      scheduled = d;
      return createScanScheduler({ ...d, setTimer: () => 0, clearTimer: () => undefined });
    },
  };
  const m = createScheduledScanModule(deps);
  await m.start(ctx);
  assert.equal(scheduled?.everyMs, 24 * 3600_000);
  assert.equal(scheduled?.lastRunAt, null);
  assert.equal(await m.runNow(), true);

  const byRule = new Map(detections.map((d) => [d.rule.id, d]));
  assert.deepEqual([...byRule.keys()].sort(), ['yamori.scan.blocklist', 'yamori.scan.builtin', 'yara:Demo:Marker_One']);
  const y = byRule.get('yara:Demo:Marker_One');
  assert.equal(y?.file?.path, join(dir, 'marked.bin'));
  assert.deepEqual(y?.actions, ['quarantine_file']);
  assert.ok(y?.reasons.includes('$a at offset 7 (17 bytes): "sched-yara-marker"'), y?.reasons.join('\n'));
  assert.match(y?.reasons[1] ?? '', /YARA rule Marker_One \(pack "Demo"; tags: demo\)/);
  assert.equal(byRule.get('yamori.scan.builtin')?.file?.path, join(dir, 'eicar.com'));
  assert.equal(byRule.get('yamori.scan.blocklist')?.file?.hash?.sha256, realBlocked);
  assert.equal(m.lastRun()?.summary.files, 4);
  assert.equal(m.lastRun()?.summary.infected, 3);
  assert.match(m.state().reason ?? '', /every 24 h over .*4 files, 3 infected, 0 errors; next /);

  // restarted: the last run is known, so the next one is a full interval later (not at once)
  await m.stop();
  const again = createScheduledScanModule(deps);
  await again.start(ctx);
  assert.equal(scheduled?.lastRunAt, 1_800_000_000_000);
  assert.equal(again.lastRun()?.summary.infected, 3);
  await again.stop();
});

void test('no schedule in the policy: nothing runs; a schedule removed by a new policy stops', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'yamori-sched-state-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const doc = defaultPolicy();
  const ctx = { policy: () => doc, applied: () => applied(doc), log: () => undefined, now: () => 0, stateDir: state } as unknown as ModuleContext;
  let started = 0;
  const m = createScheduledScanModule({
    yara: () => ({ ruleset: null, packName: (ns) => ns }),
    scheduler: (d) => {
      started++;
      return createScanScheduler({ ...d, setTimer: () => 0, clearTimer: () => undefined });
    },
  });
  await m.start(ctx);
  assert.equal(await m.runNow(), false);
  assert.equal(m.state().state, 'off');
  const withScan = defaultPolicy();
  withScan.scheduledScan = { everyHours: 1, paths: [state], maxFileMb: 1 };
  m.applyPolicy?.(applied(withScan));
  assert.equal(started, 1);
  m.applyPolicy?.(applied(withScan)); // same schedule: not restarted
  assert.equal(started, 1);
  m.applyPolicy?.(applied(doc));
  assert.equal(await m.runNow(), false);
  assert.equal(m.state().state, 'off');
  await m.stop();
});
