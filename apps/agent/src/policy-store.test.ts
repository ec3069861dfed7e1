import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPolicy } from '@yamori/protocol';
import { createPolicyStore } from './policy-store.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'ymr-policy-'));

void test('a valid policy is applied, persisted 0600 and survives a restart', (t) => {
  const d = dir();
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const p = defaultPolicy();
  p.blocklist = [{ sha256: 'b'.repeat(64) }];
  const s = createPolicyStore({ stateDir: d, now: () => 0 });
  assert.equal(s.current(), undefined);
  let changes = 0;
  s.onChange(() => changes++);
  assert.equal(s.apply(3, p), true);
  assert.equal(changes, 1);
  assert.equal(statSync(join(d, 'policy.json')).mode & 0o777, 0o600);
  const again = createPolicyStore({ stateDir: d, now: () => 0 });
  assert.equal(again.current()?.revision, 3);
  assert.ok(again.current()?.blocklist.has('b'.repeat(64)));
});

void test('an invalid policy is refused, reported, and the old one stays', (t) => {
  const d = dir();
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const s = createPolicyStore({ stateDir: d, now: () => 0 });
  s.apply(1, defaultPolicy());
  assert.equal(s.apply(2, { ...defaultPolicy(), schemaVersion: 99 }), false);
  assert.match(s.problem() ?? '', /rejected invalid policy revision 2.*schemaVersion.*keeping revision 1/);
  assert.equal(s.current()?.revision, 1);
  assert.equal(createPolicyStore({ stateDir: d, now: () => 0 }).current()?.revision, 1);
  s.apply(3, defaultPolicy());
  assert.equal(s.problem(), undefined);
});

void test('a corrupt stored policy is reported, not fatal', (t) => {
  const d = dir();
  t.after(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, 'policy.json'), '{not json');
  const s = createPolicyStore({ stateDir: d, now: () => 0 });
  assert.equal(s.current(), undefined);
  assert.match(s.problem() ?? '', /unreadable/);
});
