// SigmaHQ's Linux rules (a corpus nobody on the team wrote): compile rate, and each compiled rule
// matches an event synthesized from its own detection but not everyday benign events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { compileRules, createSigmaEngine } from './engine.ts';
import { skeletonEvent } from './field-map.ts';
import { loadSigmaDir } from './loader.ts';
import { synthesizeEvent } from './synthesize.ts';

const CORPUS = process.env['YAMORI_SIGMA_CORPUS'] ?? '/work/shared/corpora/sigma-linux';
const skip = existsSync(CORPUS) ? false : `corpus not found at ${CORPUS} (set YAMORI_SIGMA_CORPUS)`;
const MAPPED = ['process_creation', 'file_event', 'network_connection'];

const loaded = skip ? undefined : await loadSigmaDir(CORPUS);
const pack = loaded ? compileRules(loaded.rules) : undefined;
const naive = pack ? createSigmaEngine(pack.compiled, { index: false }) : undefined;
const ours = await loadSigmaDir(join(import.meta.dirname, '../../rules/yamori'));

type Rec = Record<string, unknown>;
const benign: Rec[] = [
  { ...skeletonEvent('process_creation'), process: { entity_id: 'b1', pid: 2000, executable: '/usr/bin/ls', args: ['ls', '-la'], command_line: 'ls -la', working_directory: '/home/user', user: { name: 'user' }, parent: { executable: '/usr/bin/bash', command_line: 'bash' } } },
  { ...skeletonEvent('file_event'), file: { path: '/home/user/notes.txt' }, process: { pid: 2001, executable: '/usr/bin/vim', user: { name: 'user' } } },
  { ...skeletonEvent('network_connection'), source: { ip: '192.168.1.20', port: 51000 }, destination: { ip: '93.184.216.34', port: 443, domain: 'example.com' }, network: { transport: 'tcp', type: 'ipv4', direction: 'egress' }, process: { pid: 2002, executable: '/usr/bin/curl', user: { name: 'user' } } },
];

void test('compiles at least 95% of the process_creation, file_event and network_connection rules; names the reason for every other rule', { skip }, () => {
  assert.ok(loaded && pack);
  assert.equal(loaded.errors.length, 0, 'every corpus file is valid YAML');
  for (const cat of MAPPED) {
    const total = loaded.rules.filter((r) => r.logsource.category === cat).length;
    const ok = pack.compiled.filter((c) => c.category === cat).length;
    assert.ok(total > 0);
    assert.ok(ok / total >= 0.95, `${cat}: ${ok}/${total}`);
  }
  assert.equal(pack.compiled.length + pack.errors.length, loaded.rules.length, 'no rule is silently dropped');
  for (const e of pack.errors) {
    assert.ok(e.file.startsWith(CORPUS) && e.reason.length > 0 && e.ruleId);
    if (!MAPPED.includes(e.category ?? '')) assert.match(e.reason, /^unsupported logsource/);
  }
  assert.ok(pack.errors.some((e) => e.category === 'service:auditd'));
});

void test('each compiled corpus rule matches an event synthesized from its own selections and not benign events', { skip }, () => {
  assert.ok(pack && naive);
  const failures: string[] = [];
  for (const c of pack.compiled) {
    const name = c.rule.file.slice(CORPUS.length + 1);
    const event = synthesizeEvent(c);
    if (!event) {
      failures.push(`${name}: no event could be synthesized`);
      continue;
    }
    if (!pack.engine.match(event).some((m) => m.id === c.rule.id)) failures.push(`${name}: indexed engine missed ${JSON.stringify(event)}`);
    if (!naive.match(event).some((m) => m.id === c.rule.id)) failures.push(`${name}: naive engine missed`);
    for (const b of benign) if (pack.engine.match(b).some((m) => m.id === c.rule.id)) failures.push(`${name}: matched benign ${JSON.stringify(b)}`);
  }
  assert.deepEqual(failures, []);
});

void test('the literal index never changes results: indexed and naive engines agree on random events', { skip }, () => {
  assert.ok(loaded);
  const all = compileRules([...loaded.rules, ...ours.rules]);
  const engine = all.engine;
  const naiveAll = createSigmaEngine(all.compiled, { index: false });
  // Fragments include rule literals so that a fair share of events match something.
  const frag = fc.constantFrom(
    '/usr/bin/', '/bin/', '/tmp/', '/dev/shm/', 'bash', 'sh', 'nc', 'ncat', 'curl', 'wget', 'python3', ' -c ', ' -e ', ' -i ',
    '/dev/tcp/', '>&', '0>&1', '|', ' sh', 'base64 -d', 'chmod', '+s', 'u+s', 'setcap', 'history -c', 'rm ', '.bash_history',
    'crontab', '/etc/cron.d/', '/etc/shadow', '/etc/passwd', 'insmod', 'xmrig', 'stratum+tcp://', 'nohup', 'iptables', '-F',
    'systemctl', 'stop', 'disable', 'ufw', 'useradd', 'passwd', 'socat', 'exec:', 'LD_PRELOAD=', 'ld.so.preload', ' ', 'x', '1.2.3.4',
    '/etc/profile.d/', '.bashrc', '/.ssh/authorized_keys', 'nsenter', ' -t 1', 'docker.sock', ' -v ', '/nginx', '/soffice.bin', 'memfd:',
    ' (deleted)', '/etc/ld.so.preload', '/dpkg', 'fsockopen', 'socket.socket', '/bin/sh', 'pty.spawn',
  );
  const text = fc.array(frag, { maxLength: 10 }).map((a) => a.join(''));
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
  const procEvent = fc.record({ executable: maybe(text), command_line: maybe(text), env_vars: maybe(fc.array(text, { maxLength: 3 })), parent: maybe(fc.record({ executable: maybe(text), command_line: maybe(text) })), user: maybe(fc.record({ name: fc.constantFrom('root', 'user', 'www-data') })) }).map(
    (p): Rec => ({ ...skeletonEvent('process_creation'), process: { entity_id: 'p', pid: 1, ...JSON.parse(JSON.stringify(p)) } }),
  );
  const fileEvent = fc.record({ path: text, exe: text }).map((f): Rec => ({ ...skeletonEvent('file_event'), file: { path: f.path }, process: { pid: 1, executable: f.exe } }));
  const netEvent = fc.record({ ip: fc.constantFrom('127.0.0.1', '10.1.1.1', '8.8.8.8', '93.184.216.34'), port: fc.constantFrom(22, 443, 4444, 3333, 8531), domain: maybe(text), exe: text }).map(
    (n): Rec => ({ ...skeletonEvent('network_connection'), destination: { ip: n.ip, port: n.port, ...(n.domain ? { domain: n.domain } : {}) }, network: { transport: 'tcp', type: 'ipv4', direction: 'egress' }, process: { pid: 1, executable: n.exe } }),
  );
  let runs = 0;
  let matched = 0;
  fc.assert(
    fc.property(fc.oneof(procEvent, fileEvent, netEvent), (event) => {
      const ids = engine.match(event).map((m) => m.id);
      assert.deepEqual(ids, naiveAll.match(event).map((m) => m.id));
      runs++;
      if (ids.length > 0) matched++;
    }),
    { numRuns: 400, seed: 20261122 },
  );
  // not vacuous: a good share of the random events match some rule
  assert.ok(matched / runs > 0.1, `${matched}/${runs}`);
});
