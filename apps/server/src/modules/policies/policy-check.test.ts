import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPolicy } from '@yamori/protocol';
import { policyProblems } from './policy-check.ts';

void test('scheduled scan paths must be absolute', () => {
  const p = defaultPolicy();
  p.scheduledScan = { everyHours: 24, paths: ['/home', 'srv/data'], maxFileMb: 64 };
  assert.deepEqual(policyProblems(p, 0), ['scheduledScan.paths[1]: path must be absolute (start with /)']);
  p.scheduledScan.paths = ['/home'];
  assert.deepEqual(policyProblems(p, 0), []);
});
