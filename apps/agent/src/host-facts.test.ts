import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFacts, parseWith } from '@yamori/protocol';
import { collectHostFacts, parseOsRelease } from './host-facts.ts';

function fakeRoot(t: { after: (fn: () => void) => void }) {
  const root = mkdtempSync(join(tmpdir(), 'ymr-host-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const w = (p: string, c: string) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), c);
  };
  return { root, w };
}

void test('os-release parsing handles quotes', () => {
  assert.deepEqual(parseOsRelease('ID=debian\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n# c\n'), {
    ID: 'debian',
    NAME: 'Debian GNU/Linux',
    VERSION_ID: '13',
  });
});

void test('facts and conflicts from a fake root', (t) => {
  const { root, w } = fakeRoot(t);
  w('etc/machine-id', '0123456789abcdef0123456789abcdef\n');
  w('etc/os-release', 'ID=debian\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n');
  w('etc/audit/rules.d/a.rules', '# comment\n-w /etc/passwd -p wa -k passwd\n');
  w('etc/clamav/clamd.conf', 'OnAccessIncludePath /home\n');
  w('proc/10/comm', 'falcon-sensor\n');
  w('proc/11/comm', 'auditd\n');
  w('proc/12/comm', 'clamd\n');
  w('proc/13/comm', 'fanotify-user\n');
  mkdirSync(join(root, 'proc/13/fd'));
  symlinkSync('anon_inode:[fanotify]', join(root, 'proc/13/fd/5'));
  w('proc/13/fdinfo/5', 'pos:\t0\nfanotify flags:10 event-flags:0\nfanotify mnt_id:1 mflags:0 mask:20 ignored_mask:0\n');
  w('proc/14/comm', 'yamori\n');
  mkdirSync(join(root, 'proc/14/fd'));
  symlinkSync('anon_inode:[fanotify]', join(root, 'proc/14/fd/3'));
  const f = collectHostFacts({ root, agentVersion: '0.1.0', selfPid: 14, hostname: () => 'web1', kernel: () => '6.12.0', arch: () => 'x64', ips: () => ['10.1.2.3'] });
  parseWith(HostFacts, f, 'facts');
  assert.equal(f.machineId, '0123456789abcdef0123456789abcdef');
  assert.deepEqual(f.os, { family: 'debian', name: 'Debian GNU/Linux', version: '13', kernel: '6.12.0' });
  const names = (f.conflicts ?? []).map((c) => `${c.kind}:${c.name}`);
  assert.deepEqual(names.sort(), ['antivirus:ClamAV on-access', 'audit:auditd', 'edr:CrowdStrike Falcon', 'fanotify:fanotify-user']);
  const fan = f.conflicts?.find((c) => c.kind === 'fanotify');
  assert.match(fan?.detail ?? '', /pid 13 .*flags 10.*1 mark/);
});

void test('auditd without rules is not a conflict; no machine-id is a clear error', (t) => {
  const { root, w } = fakeRoot(t);
  w('proc/11/comm', 'auditd\n');
  assert.throws(() => collectHostFacts({ root, agentVersion: '0.1.0' }), /machine-id.*systemd-machine-id-setup/);
  w('etc/machine-id', '0123456789abcdef\n');
  assert.equal(collectHostFacts({ root, agentVersion: '0.1.0' }).conflicts, undefined);
});

void test('the real host produces valid facts', () => {
  parseWith(HostFacts, collectHostFacts({ agentVersion: '0.1.0' }), 'facts');
});
