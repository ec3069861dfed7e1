import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxReport, parseWith } from '@yamori/protocol';
import { analyzeTrace, parseStrace, type Behaviour } from './strace-parse.ts';
import {
  isIndicatorDomain,
  isPublicIp,
  scoreBehaviour,
  SIGNATURES,
  verdictFor,
  type FileChange,
  type ScoreInput,
} from './score.ts';
import { buildReport, emptyReport } from './report.ts';

const env = {
  home: '/home/alice',
  samplePath: '/sandbox/sample',
  resolver: '127.0.0.1',
  hostname: 'ws-0231',
};
const limits = { pidsLimitHit: false, memoryLimitHit: false, wallClockHit: false, fallback: null };

function behaviour(lines: string[]): Behaviour {
  const text = ['50 1.0 execve("/sandbox/sample", ["/sandbox/sample"], 0x1 /* 1 var */) = 0', ...lines].join(
    '\n',
  );
  return analyzeTrace(parseStrace(text), { rootExecutable: '/sandbox/sample' });
}

function input(over: Partial<ScoreInput>): ScoreInput {
  return { status: 'completed', behaviour: behaviour([]), sinks: [], changes: [], limits, env, ...over };
}

const encrypted = (path: string): FileChange => ({
  path,
  state: 'modified',
  decoy: true,
  sizeAfter: 4096,
  entropyBefore: 4.1,
  entropyAfter: 7.95,
  sha256After: 'a'.repeat(64),
  executable: false,
});

void test('ransomware-like run: cron + C2 + encrypted decoys → malicious, with ids, weights, evidence', () => {
  const b = behaviour([
    '50 1.1 openat(AT_FDCWD</home/alice>, "/etc/cron.d/update", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 EROFS (Read-only file system)',
    '50 1.2 sendto(3<UDP:[0]>, "x", 1, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.1")}, 16) = 1',
    '50 1.3 connect(4, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("198.18.0.1")}, 16) = 0',
  ]);
  const r = scoreBehaviour(
    input({
      behaviour: b,
      sinks: [{ kind: 'dns', domain: 'c2.evil-test.example', qtype: 1, ip: '198.18.0.1' }],
      changes: ['a.pdf', 'b.rtf', 'c.csv'].map((f) => encrypted(`/home/alice/Documents/${f}`)),
    }),
  );
  const ids = r.signatures.map((s) => s.id);
  assert.deepEqual(ids, ['persistence.cron', 'network.dns', 'network.connect', 'ransomware.bulk-encrypt']);
  assert.equal(r.verdict, 'malicious');
  assert.equal(r.score, 100, 'capped at 100');
  assert.match(r.signatures[0]?.evidence ?? '', /\/etc\/cron\.d\/update/);
  assert.ok(!ids.includes('network.local-service'), 'the fake resolver is not a local service');
});

void test('a quiet run is benign; the same quiet run that timed out or crashed is unknown', () => {
  assert.deepEqual(scoreBehaviour(input({})), { signatures: [], score: 0, verdict: 'benign' });
  assert.equal(verdictFor('timeout', 0), 'unknown');
  assert.equal(verdictFor('crashed', 10), 'unknown');
  assert.equal(verdictFor('refused', 100), 'unknown');
  assert.equal(verdictFor('timeout', 40), 'suspicious');
});

void test('isolation probe: shadow, /root and a host loopback port → recorded, suspicious', () => {
  const b = behaviour([
    '50 1.1 openat(AT_FDCWD</home/alice>, "/etc/shadow", O_RDONLY) = -1 ENOENT (No such file or directory)',
    '50 1.2 openat(AT_FDCWD</home/alice>, "/root/planted", O_RDONLY) = -1 ENOENT (No such file or directory)',
    '50 1.3 connect(3, {sa_family=AF_INET, sin_port=htons(41234), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)',
  ]);
  const r = scoreBehaviour(input({ behaviour: b }));
  assert.deepEqual(
    r.signatures.map((s) => [s.id, s.evidence]),
    [
      ['credential.sensitive-read', 'open /etc/shadow; open /root/planted'],
      ['network.local-service', '127.0.0.1:41234'],
    ],
  );
  assert.equal(r.verdict, 'suspicious');
});

void test('fork bomb, dropped executable run, setuid, ptrace, shell rc, self-delete', () => {
  const b = behaviour([
    ...Array.from(
      { length: 12 },
      (_, i) =>
        `50 1.${i + 10} clone(child_stack=NULL, flags=SIGCHLD) = -1 EAGAIN (Resource temporarily unavailable)`,
    ),
    '50 2.1 openat(AT_FDCWD</tmp>, "/tmp/.x", O_WRONLY|O_CREAT, 0700) = 3</tmp/.x>',
    '50 2.2 execve("/tmp/.x", ["/tmp/.x"], 0x1 /* 1 var */) = -1 EACCES (Permission denied)',
    '50 2.3 setuid(0) = -1 EPERM (Operation not permitted)',
    '50 2.4 ptrace(PTRACE_ATTACH, 1) = -1 EPERM (Operation not permitted)',
    '50 2.5 openat(AT_FDCWD</home/alice>, ".bashrc", O_WRONLY|O_APPEND) = 3</home/alice/.bashrc>',
    '50 2.6 unlink("/sandbox/sample") = -1 EROFS (Read-only file system)',
  ]);
  const r = scoreBehaviour(
    input({
      status: 'timeout',
      behaviour: b,
      limits: { ...limits, pidsLimitHit: true, wallClockHit: true },
      changes: [
        {
          path: '/tmp/.x',
          state: 'created',
          decoy: false,
          sizeAfter: 100,
          entropyBefore: null,
          entropyAfter: 3,
          sha256After: 'b'.repeat(64),
          executable: true,
        },
      ],
    }),
  );
  const ids = r.signatures.map((s) => s.id).sort();
  assert.deepEqual(ids, [
    'evasion.self-delete',
    'execution.dropped-executable',
    'execution.run-dropped',
    'persistence.shell-rc',
    'privilege.ptrace',
    'privilege.setuid-root',
    'resource.fork-bomb',
    'sandbox.timeout',
  ]);
  assert.equal(r.verdict, 'malicious');
});

void test('report: valid against the protocol schema; indicators are public IPs, real domains, URLs and dropped hashes', () => {
  const b = behaviour([
    '50 1.1 connect(4, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("198.18.0.1")}, 16) = 0',
    '50 1.2 connect(5, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.9")}, 16) = 0',
    '50 1.3 connect(6, {sa_family=AF_INET, sin_port=htons(22), sin_addr=inet_addr("10.0.0.1")}, 16) = 0',
    '50 1.4 openat(AT_FDCWD</tmp>, "/tmp/payload", O_WRONLY|O_CREAT|O_TRUNC, 0755) = 3</tmp/payload>',
    '50 1.5 openat(AT_FDCWD</>, "/dev/null", O_WRONLY) = 3</dev/null>',
    '50 1.6 exit_group(0) = ?',
    '50 1.7 +++ exited with 0 +++',
  ]);
  const report = buildReport({
    ...input({
      behaviour: b,
      sinks: [
        { kind: 'dns', domain: 'c2.evil-test.example', qtype: 1, ip: '198.18.0.1' },
        { kind: 'dns', domain: 'localhost', qtype: 1, ip: '198.18.0.2' },
        {
          kind: 'http',
          ip: '198.18.0.1',
          port: 80,
          domain: 'c2.evil-test.example',
          url: 'http://c2.evil-test.example/gate',
          method: 'GET',
          userAgent: null,
        },
      ],
      changes: [
        {
          path: '/tmp/payload',
          state: 'created',
          decoy: false,
          sizeAfter: 10,
          entropyBefore: null,
          entropyAfter: 2,
          sha256After: 'c'.repeat(64),
          executable: true,
        },
      ],
    }),
    durationMs: 1234.4,
    domainFor: (ip) => (ip === '198.18.0.1' ? 'c2.evil-test.example' : null),
  });
  parseWith(SandboxReport, report, 'report');
  assert.deepEqual(report.indicators, [
    { type: 'domain', value: 'c2.evil-test.example' },
    { type: 'url', value: 'http://c2.evil-test.example/gate' },
    { type: 'ip', value: '203.0.113.9' },
    { type: 'sha256', value: 'c'.repeat(64) },
  ]);
  assert.deepEqual(report.files, [{ path: '/tmp/payload', op: 'write', sha256: 'c'.repeat(64) }]);
  assert.ok(
    report.network.some(
      (n) => n.kind === 'connect' && n.ip === '198.18.0.1' && n.domain === 'c2.evil-test.example',
    ),
  );
  assert.equal(report.durationMs, 1234);
  parseWith(SandboxReport, emptyReport('refused', 'not an executable'), 'report');
});

void test('address classification and the signature catalogue', () => {
  for (const ip of [
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.1.1',
    '198.18.0.9',
    '::1',
    'fe80::1',
    'fd00::1',
    '224.0.0.1',
  ])
    assert.equal(isPublicIp(ip), false, ip);
  for (const ip of ['8.8.8.8', '203.0.113.9', '2001:db8::1']) assert.equal(isPublicIp(ip), true, ip);
  assert.equal(isIndicatorDomain('c2.evil-test.example', 'ws-0231'), true);
  for (const d of ['localhost', 'ws-0231', 'printer.local', '1.2.3.4', 'nodot'])
    assert.equal(isIndicatorDomain(d, 'ws-0231'), false, d);
  const ids = SIGNATURES.map((s) => s.id);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
});
