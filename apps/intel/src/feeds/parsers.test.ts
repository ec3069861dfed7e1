import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../errors.ts';
import { parseFeed } from './import-service.ts';
import { prepareImport, type PreparedImport } from './prepare-import.ts';
import { BUILTIN_WARNINGLISTS, createWarninglist, parseMispWarninglist } from './warninglist.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const warninglist = createWarninglist(BUILTIN_WARNINGLISTS);
const NOW = Date.parse('2025-03-05T00:00:00Z');
const defaults = { verdict: 'malicious' as const, confidence: 75, tlp: 'green' as const, ttlMs: null };
const values = (p: PreparedImport) => p.observations.map((o) => `${o.type} ${o.value}`).sort();
const problem = (p: PreparedImport, ref: string) => p.problems.filter((x) => x.ref === ref).map((x) => `${x.kind}: ${x.reason}`);

test('STIX bundle: indicators, OR-ed patterns, ISSUBSET, markings, relationships; each bad object reported by id', () => {
  const p = prepareImport(parseFeed('stix', fixture('stix-bundle.json'), undefined), defaults, warninglist, NOW);
  assert.deepEqual(values(p), [
    'cidr 198.51.99.0/24',
    'domain cnc.mirai-example.net',
    'ip 203.0.114.7',
    'sha256 4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877',
    'url http://dl.bad-updates.example.org/x86?id=1',
  ]);
  const hash = p.observations.find((o) => o.type === 'sha256')!;
  assert.deepEqual({ c: hash.confidence, tlp: hash.tlp, first: hash.firstSeen }, { c: 85, tlp: 'amber', first: Date.parse('2025-03-01T10:00:00Z') });
  assert.match(problem(p, 'indicator--11111111-2222-4333-8444-555555555501')[0]!, /^rejected: invalid sha256/);
  assert.match(problem(p, 'indicator--11111111-2222-4333-8444-555555555502')[0]!, /^unsupported: MD5 hashes/);
  assert.match(problem(p, 'indicator--11111111-2222-4333-8444-555555555503')[0]!, /^rejected: pattern: pattern uses AND/);
  assert.match(problem(p, 'indicator--11111111-2222-4333-8444-555555555504')[0]!, /^unsupported: pattern_type yara/);
  assert.match(problem(p, 'indicator--11111111-2222-4333-8444-555555555505')[0]!, /^rejected: warninglisted \(public DNS resolvers\)/);
  assert.match(problem(p, 'report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3')[0]!, /^unsupported: STIX report/);
  assert.deepEqual(problem(p, 'x-acme-widget--0f7b7a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'), ['rejected: unknown STIX object type "x-acme-widget"']);
  // OR-ed values relate to each other; both indicators indicate the same malware, so all three relate.
  const rel = p.relations.map(([a, b]) => `${a.value} ~ ${b.value}`).sort();
  assert.ok(rel.includes('203.0.114.7 ~ cnc.mirai-example.net') || rel.includes('cnc.mirai-example.net ~ 203.0.114.7'), rel.join('\n'));
  assert.equal(rel.filter((r) => r.includes('4bac2739')).length, 2);
  assert.equal(p.total, 5 + p.problems.length);
});

test('MISP event: event and object attributes, to_ids, tags for TLP, unsupported types counted', () => {
  const p = prepareImport(parseFeed('misp', fixture('misp-event.json'), undefined), defaults, warninglist, NOW);
  assert.deepEqual(values(p), [
    'domain c2.miner-example.top',
    'domain pool.miner-example.top',
    'domain update.miner-example.top',
    'ip 2a03:b0c0:3:d0::1a51:c001',
    'ip 45.9.148.21',
    'ip 45.9.148.22',
    'ip 91.92.240.13',
    'sha256 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
    'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    'url http://185.220.101.33/ldr.sh',
  ]);
  assert.equal(p.observations.find((o) => o.value === '91.92.240.13')!.tlp, 'red');
  assert.equal(p.observations.find((o) => o.value === '45.9.148.21')!.tlp, 'amber');
  assert.equal(p.observations.find((o) => o.value === '45.9.148.21')!.confidence, 90);
  const kinds = (k: string) => p.problems.filter((x) => x.kind === k).map((x) => x.reason).sort();
  assert.deepEqual(kinds('unsupported'), [
    'unsupported attribute type filename',
    'unsupported attribute type md5',
    'unsupported attribute type md5',
    'unsupported attribute type sha1',
    'unsupported attribute type text',
  ]);
  assert.deepEqual(kinds('skipped'), ['to_ids is false']);
  assert.deepEqual(problem(p, 'attribute a1000000-0000-4000-8000-000000000010'), ['rejected: invalid IP address "300.12.1.1"']);
  assert.match(problem(p, 'attribute a1000000-0000-4000-8000-000000000011')[0]!, /warninglisted/);
  const rel = p.relations.map(([a, b]) => [a.value, b.value].sort().join(' ~ '));
  assert.deepEqual(rel, ['45.9.148.22 ~ c2.miner-example.top']);
});

test('abuse.ch CSV: header from the comment, broken lines rejected by line number, the rest kept', () => {
  const p = prepareImport(parseFeed('csv', fixture('urlhaus-recent.csv'), undefined), defaults, warninglist, NOW);
  assert.deepEqual(values(p), [
    'url http://115.55.236.58:41234/bin.sh',
    'url http://bad-host.example.com/a/x86',
    'url http://drive.google.com/uc?id=abc&export=download',
    'url https://evil-cdn.example.net/update.sh?v=2',
  ]);
  assert.deepEqual(
    p.problems.map((x) => `${x.ref}: ${x.reason}`),
    [
      'line 14: unterminated quote',
      'line 15: expected 9 fields, got 3',
      'line 13: invalid URL "http://not a url"',
      'line 16: warninglisted (major vendor, cloud and CDN domains): http://www.google.com/',
    ],
  );
  assert.equal(p.observations[0]!.firstSeen, Date.parse('2025-03-01T09:58:04Z'));
});

test('plain IP list: comments, CIDRs, warninglisted private ranges and over-broad networks', () => {
  const p = prepareImport(parseFeed('list', fixture('ip-blocklist.txt'), 'ip'), defaults, warninglist, NOW);
  assert.deepEqual(values(p), ['cidr 45.9.148.0/24', 'ip 185.220.101.33', 'ip 2a03:b0c0:3:d0::1a51:c001', 'ip 91.92.240.13']);
  const reasons = p.problems.map((x) => `${x.ref}: ${x.reason.replace(/ \(.*\)/, '')}`);
  assert.deepEqual(reasons, [
    'line 6: warninglisted: 2001:db8::1:0:0:1',
    'line 8: warninglisted: 192.168.1.10',
    'line 9: warninglisted: 10.0.0.0/8',
    'line 10: invalid IP address "1.2.3.4.5"',
    'line 11: invalid IP address "not-an-ip!"',
    'line 12: CIDR 0.0.0.0/0 is too broad to blocklist',
  ]);
});

test('a file that is not the announced format is refused as a whole', () => {
  assert.throws(() => parseFeed('stix', '{"type":"report"}', undefined), InvalidInputError);
  assert.throws(() => parseFeed('misp', 'not json', undefined), /misp feed: not JSON/);
});

test('MISP warninglists extend the built-in one; benign verdicts are never blocked by it', () => {
  const extra = parseMispWarninglist({ name: 'Corp ranges', type: 'cidr', list: ['203.0.114.0/24'] });
  const wl = createWarninglist([...BUILTIN_WARNINGLISTS, extra]);
  assert.match(wl.match('ip', '203.0.114.7') ?? '', /Corp ranges/);
  assert.match(wl.match('domain', 'security.debian.org') ?? '', /vendor/);
  assert.equal(wl.match('domain', 'evil-bucket.s3.amazonaws.com'), undefined, 'customer content on a cloud domain can be listed');
  assert.match(wl.match('sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855') ?? '', /well-known/);
  assert.throws(() => parseMispWarninglist({ name: 'x', type: 'regex', list: [] }), /not supported/);
  const p = prepareImport(parseFeed('list', '8.8.8.8\n', 'ip'), { ...defaults, verdict: 'benign' }, warninglist, NOW);
  assert.equal(p.observations.length, 1);
});
