import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScanScheduler, nextScanAt } from './schedule.ts';

void test('nextScanAt: interval after the last run, at once when overdue or never run', () => {
  assert.equal(nextScanAt(null, 1000, 50), 50);
  assert.equal(nextScanAt(100, 1000, 200), 1100);
  assert.equal(nextScanAt(100, 1000, 5000), 5000);
  assert.equal(nextScanAt(100, 1000, 200, 30), 1130);
});

void test('scheduler: one timer at a time, runs never overlap, stop cancels', async () => {
  let clock = 10_000;
  const timers: { fn: () => void; at: number }[] = [];
  let runs = 0;
  let release: (() => void) | null = null;
  const s = createScanScheduler({
    everyMs: 1000,
    lastRunAt: 9_500,
    now: () => clock,
    random: () => 0,
    setTimer: (fn, ms) => {
      const t = { fn, at: clock + ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => timers.splice(timers.indexOf(t as (typeof timers)[number]), 1),
    run: () => {
      runs++;
      return new Promise<void>((r) => (release = r));
    },
  });
  s.start();
  assert.equal(s.nextAt, 10_500);
  assert.equal(timers.length, 1);
  clock = 10_500;
  timers.shift()?.fn();
  assert.equal(runs, 1);
  assert.equal(await s.runNow(), false, 'a second run while one is going is refused');
  clock = 12_000;
  (release as (() => void) | null)?.();
  await new Promise((r) => setImmediate(r));
  assert.equal(s.nextAt, 13_000, 'next run counted from the end of the last');
  assert.equal(timers.length, 1);
  s.stop();
  assert.equal(timers.length, 0);
  assert.equal(s.nextAt, null);
});
