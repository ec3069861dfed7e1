import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Exclusion } from '@yamori/protocol';
import {
  exclusionMatches,
  findExclusion,
  indexExclusions,
  isExclusionActive,
  matchGlob,
  type ExclusionSubject,
} from './exclusion-match.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const H = 'a'.repeat(64);
const ex = (e: Partial<Exclusion> & Pick<Exclusion, 'kind' | 'value'>): Exclusion => ({ id: 'x1', ...e });
const subj = (s: Partial<ExclusionSubject>): ExclusionSubject => ({ module: 'malware', ...s });

void test('glob: * stays within a segment, ** crosses segments', () => {
  assert.equal(matchGlob('/tmp/*', '/tmp/a'), true);
  assert.equal(matchGlob('/tmp/*', '/tmp/a/b'), false);
  assert.equal(matchGlob('/tmp/**', '/tmp/a/b/c'), true);
  assert.equal(matchGlob('/tmp/**', '/tmp/a'), true);
  assert.equal(matchGlob('/tmp/**', '/tmpx/a'), false);
  assert.equal(matchGlob('/tmp/**', '/tmp'), false);
  assert.equal(matchGlob('/home/**/bin/*', '/home/bin/x'), true);
  assert.equal(matchGlob('/home/**/bin/*', '/home/u/a/bin/x'), true);
  assert.equal(matchGlob('/home/**/bin/*', '/home/u/a/bin/x/y'), false);
  assert.equal(matchGlob('**/node', '/usr/bin/node'), true);
  assert.equal(matchGlob('/opt/app-?.sh', '/opt/app-1.sh'), true);
  assert.equal(matchGlob('/opt/app-?.sh', '/opt/app-12.sh'), false);
  assert.equal(matchGlob('/usr/lib**', '/usr/lib64/x/y'), true);
});

void test('glob: regex metacharacters are literal', () => {
  assert.equal(matchGlob('/opt/a.b', '/opt/aXb'), false);
  assert.equal(matchGlob('/opt/a.b', '/opt/a.b'), true);
  assert.equal(matchGlob('/opt/(x)+[y]$', '/opt/(x)+[y]$'), true);
  assert.equal(matchGlob('/opt/a|b', '/opt/a'), false);
});

void test('glob: a path without wildcards matches only itself (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 30 }).filter((s) => !/[*?]/.test(s)), fc.string({ maxLength: 30 }), (a, b) => {
      assert.equal(matchGlob(a, b), a === b);
    }),
  );
});

void test('sha256 matches case-insensitively; absent subject fields never match', () => {
  assert.equal(exclusionMatches(ex({ kind: 'sha256', value: H.toUpperCase() }), subj({ sha256: H }), NOW), true);
  assert.equal(exclusionMatches(ex({ kind: 'sha256', value: H }), subj({ sha256: 'b'.repeat(64) }), NOW), false);
  assert.equal(exclusionMatches(ex({ kind: 'sha256', value: H }), subj({ path: '/x' }), NOW), false);
  assert.equal(exclusionMatches(ex({ kind: 'path', value: '**' }), subj({}), NOW), false);
});

void test('signer, package and rule match exactly', () => {
  assert.equal(exclusionMatches(ex({ kind: 'signer', value: 'ACME' }), subj({ signer: 'ACME' }), NOW), true);
  assert.equal(exclusionMatches(ex({ kind: 'signer', value: 'ACME' }), subj({ signer: 'ACME Evil' }), NOW), false);
  assert.equal(exclusionMatches(ex({ kind: 'package', value: 'curl' }), subj({ package: 'curl' }), NOW), true);
  assert.equal(exclusionMatches(ex({ kind: 'package', value: 'curl' }), subj({ package: 'libcurl' }), NOW), false);
  assert.equal(exclusionMatches(ex({ kind: 'rule', value: 'r-1' }), subj({ ruleId: 'r-1' }), NOW), true);
  assert.equal(exclusionMatches(ex({ kind: 'rule', value: 'r-1' }), subj({ ruleId: 'r-10' }), NOW), false);
});

void test('parent_child needs both globs to match', () => {
  const e = ex({ kind: 'parent_child', parent: '/usr/sbin/cron', value: '/opt/backup/**' });
  assert.equal(exclusionMatches(e, subj({ parentPath: '/usr/sbin/cron', path: '/opt/backup/run.sh' }), NOW), true);
  assert.equal(exclusionMatches(e, subj({ parentPath: '/bin/bash', path: '/opt/backup/run.sh' }), NOW), false);
  assert.equal(exclusionMatches(e, subj({ parentPath: '/usr/sbin/cron', path: '/tmp/run.sh' }), NOW), false);
  assert.equal(exclusionMatches(e, subj({ path: '/opt/backup/run.sh' }), NOW), false);
  const noParent = ex({ kind: 'parent_child', value: '/opt/**' });
  assert.equal(exclusionMatches(noParent, subj({ parentPath: '/x', path: '/opt/a' }), NOW), false);
});

void test('module filter: absent or empty means every module', () => {
  const base = { kind: 'sha256' as const, value: H };
  assert.equal(exclusionMatches(ex(base), subj({ sha256: H, module: 'behavior' }), NOW), true);
  assert.equal(exclusionMatches(ex({ ...base, modules: [] }), subj({ sha256: H, module: 'network' }), NOW), true);
  assert.equal(exclusionMatches(ex({ ...base, modules: ['malware'] }), subj({ sha256: H }), NOW), true);
  assert.equal(exclusionMatches(ex({ ...base, modules: ['behavior'] }), subj({ sha256: H }), NOW), false);
});

void test('expiry: active strictly before expiresAt, null means forever, garbage means expired', () => {
  assert.equal(isExclusionActive(ex({ kind: 'rule', value: 'r' }), NOW), true);
  assert.equal(isExclusionActive(ex({ kind: 'rule', value: 'r', expiresAt: null }), NOW), true);
  assert.equal(isExclusionActive(ex({ kind: 'rule', value: 'r', expiresAt: '2026-06-01T00:00:01Z' }), NOW), true);
  assert.equal(isExclusionActive(ex({ kind: 'rule', value: 'r', expiresAt: '2026-06-01T00:00:00Z' }), NOW), false);
  assert.equal(isExclusionActive(ex({ kind: 'rule', value: 'r', expiresAt: 'not a date' }), NOW), false);
  const e = ex({ kind: 'sha256', value: H, expiresAt: '2026-05-01T00:00:00Z' });
  assert.equal(exclusionMatches(e, subj({ sha256: H }), NOW), false);
});

void test('findExclusion returns the first match in policy order', () => {
  const list = [
    ex({ id: 'a', kind: 'path', value: '/opt/**', modules: ['behavior'] }),
    ex({ id: 'b', kind: 'path', value: '/opt/*/bin/*' }),
    ex({ id: 'c', kind: 'path', value: '/opt/**' }),
  ];
  assert.equal(findExclusion(list, subj({ path: '/opt/x/bin/y' }), NOW)?.id, 'b');
  assert.equal(findExclusion(list, subj({ path: '/opt/x' }), NOW)?.id, 'c');
  assert.equal(findExclusion(list, subj({ path: '/srv/x' }), NOW), undefined);
});

void test('indexExclusions agrees with findExclusion on whether something matches', () => {
  const list: Exclusion[] = [
    ex({ id: '1', kind: 'sha256', value: H.toUpperCase(), modules: ['malware'] }),
    ex({ id: '2', kind: 'sha256', value: H, expiresAt: '2020-01-01T00:00:00Z' }),
    ex({ id: '3', kind: 'signer', value: 'ACME' }),
    ex({ id: '4', kind: 'package', value: 'curl' }),
    ex({ id: '5', kind: 'rule', value: 'r-1', modules: ['behavior'] }),
    ex({ id: '6', kind: 'path', value: '/opt/**' }),
    ex({ id: '7', kind: 'parent_child', parent: '/usr/sbin/*', value: '/tmp/*' }),
    ex({ id: '8', kind: 'path', value: '/op*/z' }),
    ex({ id: '9', kind: 'path', value: '**/evil' }),
    ex({ id: '10', kind: 'path', value: '/srv' }),
  ];
  const idx = indexExclusions(list);
  const subjects = fc.record({
    module: fc.constantFrom('malware' as const, 'behavior' as const),
    sha256: fc.option(fc.constantFrom(H, 'b'.repeat(64)), { nil: undefined }),
    signer: fc.option(fc.constantFrom('ACME', 'Other'), { nil: undefined }),
    package: fc.option(fc.constantFrom('curl', 'wget'), { nil: undefined }),
    ruleId: fc.option(fc.constantFrom('r-1', 'r-2'), { nil: undefined }),
    path: fc.option(fc.constantFrom('/opt/a/b', '/tmp/x', '/usr/bin/x', '/optx/z', '/usr/evil', 'evil', '/srv', '/srv/x', '/'), {
      nil: undefined,
    }),
    parentPath: fc.option(fc.constantFrom('/usr/sbin/cron', '/bin/sh'), { nil: undefined }),
  });
  fc.assert(
    fc.property(subjects, (s) => {
      assert.equal(idx.find(s, NOW) !== undefined, findExclusion(list, s, NOW) !== undefined);
    }),
    { numRuns: 500 },
  );
  assert.equal(idx.find(subj({ sha256: H }), NOW)?.id, '1');
  assert.equal(idx.find(subj({ sha256: H, module: 'behavior' }), NOW), undefined);
});
