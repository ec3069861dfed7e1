import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidatesFor } from './lookup.ts';
import { containingCidrs, detectType, normalise, parentDomains } from './normalise.ts';

const ok = (type: Parameters<typeof normalise>[0], raw: string) => {
  const n = normalise(type, raw);
  assert.ok(n.ok, `${raw}: ${n.ok ? '' : n.reason}`);
  return `${n.type} ${n.value}`;
};
const bad = (type: Parameters<typeof normalise>[0], raw: string) => {
  const n = normalise(type, raw);
  assert.ok(!n.ok, `${raw} should be refused`);
  return n.reason;
};

test('hashes are lower-cased; md5/sha1 lengths are named in the reason', () => {
  assert.equal(ok('sha256', ' 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 '), 'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
  assert.match(bad('sha256', 'd41d8cd98f00b204e9800998ecf8427e'), /md5/);
  assert.match(bad('sha256', 'xyz'), /64 hex/);
});

test('IPs in canonical form: RFC 5952 IPv6, mapped IPv4, no leading zeros, CIDR host bits cleared', () => {
  assert.equal(ok('ip', '2001:DB8:0:0:1:0:0:1'), 'ip 2001:db8::1:0:0:1');
  assert.equal(ok('ip', '2001:db8:0:0:0:0:2:1'), 'ip 2001:db8::2:1');
  assert.equal(ok('ip', '::ffff:192.0.2.1'), 'ip 192.0.2.1');
  assert.equal(ok('ip', '::1'), 'ip ::1');
  assert.equal(ok('ip', '1.2.3[.]4'), 'ip 1.2.3.4');
  assert.match(bad('ip', '010.1.1.1'), /invalid IP/);
  assert.match(bad('ip', '256.1.1.1'), /invalid IP/);
  assert.equal(ok('cidr', '10.1.2.3/8'), 'cidr 10.0.0.0/8');
  assert.equal(ok('cidr', '10.1.2.3/32'), 'ip 10.1.2.3');
  assert.equal(ok('ip', '2001:db8:ffff::/32'), 'cidr 2001:db8::/32');
  assert.match(bad('cidr', '10.0.0.0/33'), /invalid CIDR/);
});

test('domains: lower case, trailing dot, IDN to punycode, wildcards stripped, single labels refused', () => {
  assert.equal(ok('domain', 'Update.Miner-Example.TOP.'), 'domain update.miner-example.top');
  assert.equal(ok('domain', 'bücher.example'), 'domain xn--bcher-kva.example');
  assert.equal(ok('domain', '*.evil.example'), 'domain evil.example');
  assert.match(bad('domain', 'localhost'), /fully qualified/);
  assert.match(bad('domain', '1.2.3.4'), /IP address/);
  assert.match(bad('domain', 'bad_-.example.'), /invalid domain/);
});

test('URLs: scheme and host lower-cased, fragment and credentials dropped, default port removed, refanged', () => {
  assert.equal(ok('url', 'HTTP://User:pw@Dl.Example.ORG:80/x86?id=1#frag'), 'url http://dl.example.org/x86?id=1');
  assert.equal(ok('url', 'hxxp://185.220.101[.]33/ldr.sh'), 'url http://185.220.101.33/ldr.sh');
  assert.equal(ok('url', 'evil.example/path'), 'url http://evil.example/path');
  assert.match(bad('url', 'javascript://alert(1)'), /scheme/);
  assert.match(bad('url', 'http://not a url'), /invalid/);
});

test('type detection for lists, parents and containing networks for lookups', () => {
  assert.equal(detectType('2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae'), 'sha256');
  assert.equal(detectType('10.0.0.0/8'), 'cidr');
  assert.equal(detectType('2001:db8::1'), 'ip');
  assert.equal(detectType('http://x.example/a'), 'url');
  assert.equal(detectType('x.example'), 'domain');
  assert.equal(detectType('nonsense'), undefined);
  assert.deepEqual(parentDomains('a.b.evil.com'), ['b.evil.com', 'evil.com']);
  assert.deepEqual(containingCidrs('10.1.2.3', [24, 8, 32]), ['10.1.2.0/24', '10.0.0.0/8']);
  assert.deepEqual(
    candidatesFor('url', 'http://a.evil.com/x', { v4: [], v6: [] }).map((c) => `${c.type} ${c.value}`),
    ['url http://a.evil.com/x', 'domain a.evil.com', 'domain evil.com'],
  );
});
