import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexExclusions, yaraAvailability } from '@yamori/detection';
import { defaultPolicy, type Mode, type YaraRuleBundle } from '@yamori/protocol';
import { decideExec } from './decision.ts';
import { createYaraRules } from './yara-rules.ts';

const RULE = `rule Marker_One : demo test {
  meta:
    score = 85
  strings:
    $a = "yamori-yara-marker"
    $b = { DE AD BE EF }
  condition:
    any of them
}
`;
const RULE_V2 = `rule Marker_Two { strings: $x = "second-marker" condition: $x }\n`;
const BROKEN = `rule Broken { strings: $a = "x" condition: $a and and }\n`;
const SUSPICIOUS = `rule Odd { meta: verdict = "suspicious" strings: $o = "odd-marker" condition: $o }\n`;

const bundle = (revision: string, ...packs: Array<[string, string, number, string]>): YaraRuleBundle => ({
  revision,
  packs: packs.map(([id, name, version, source]) => ({ id, name, version, files: [{ name: 'rules.yar', source }] })),
});

function fakeClient(first: YaraRuleBundle) {
  const c = {
    next: first,
    fetches: 0,
    yaraRules: () => {
      c.fetches++;
      return Promise.resolve(c.next);
    },
  };
  return c;
}

const skip = yaraAvailability().ok || !process.env['YAMORI_ALLOW_NO_YARA'] ? false : 'libyara unavailable';

void test('packs from the server are compiled, kept on disk, and scanned on exec with rule, tags and offsets', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-yara-'));
  try {
    const file = join(dir, 'sample.bin');
    writeFileSync(file, Buffer.concat([Buffer.alloc(100, 0x20), Buffer.from('yamori-yara-marker'), Buffer.from([0, 0xde, 0xad, 0xbe, 0xef])]));
    const clean = join(dir, 'clean.bin');
    writeFileSync(clean, 'nothing to see here');
    const client = fakeClient(bundle('a1', ['p1', 'Demo', 1, RULE]));
    let changes = 0;
    const y = createYaraRules({ stateDir: dir, client, onRulesChanged: () => changes++ });
    assert.equal(y.revision(), null);
    y.offer('a1');
    assert.equal(y.revision(), 'a1', 'the revision being fetched is what the next check-in sends');
    await y.sync();
    assert.equal(client.fetches, 1);
    assert.equal(changes, 1);
    assert.deepEqual(y.status(), { revision: 'a1', packs: 1, rules: 1, problem: null });
    y.offer('a1'); // already held: no fetch
    assert.equal(client.fetches, 1);

    // a fetch that fails is retried later; meanwhile the check-in carries the server's revision
    // (so the long-poll does not answer at once again and again), also when the server goes back
    const failing = createYaraRules({ stateDir: join(dir, 'failing'), client: { yaraRules: () => Promise.reject(new Error('offline')) }, random: () => 0 });
    failing.offer('b1');
    await failing.sync();
    assert.equal(failing.revision(), 'b1');
    assert.match(failing.status().problem ?? '', /cannot fetch YARA rules: offline/);
    await failing.stop();

    const f = await y.engine({ path: file, sha256: 'a'.repeat(64), pid: 1 });
    assert.equal(f.length, 1);
    assert.equal(f[0]?.verdict, 'malicious');
    assert.equal(f[0]?.ruleId, 'yara:Demo:Marker_One');
    assert.equal(f[0]?.ruleset, 'yara:Demo');
    assert.equal(f[0]?.score, 85);
    assert.deepEqual(f[0]?.reasons, [
      'YARA rule Marker_One (pack "Demo"; tags: demo, test) matched 2 strings',
      '$a at offset 100 (18 bytes): "yamori-yara-marker"',
      '$b at offset 119 (4 bytes): "\\xde\\xad\\xbe\\xef"',
    ]);
    assert.deepEqual(await y.engine({ path: clean, sha256: 'c'.repeat(64), pid: 1 }), []);

    // a restarted agent has the same rules before it talks to the server
    const again = createYaraRules({ stateDir: dir, client: fakeClient(bundle('ffff', ['x', 'x', 1, RULE_V2])) });
    await again.load();
    assert.equal(again.revision(), 'a1');
    assert.equal((await again.engine({ path: file, sha256: 'a'.repeat(64), pid: 1 }))[0]?.ruleId, 'yara:Demo:Marker_One');

    // a pack that does not compile here never replaces the good version; the problem is reported
    client.next = bundle('a2', ['p1', 'Demo', 2, BROKEN], ['p2', 'Other', 1, RULE_V2]);
    y.offer('a2');
    await y.sync();
    assert.equal(y.revision(), 'a2', 'the bad revision is not fetched again and again');
    assert.equal(y.status().rules, 2, 'old Demo v1 plus Other');
    assert.match(y.status().problem ?? '', /"Demo" v2 did not compile here.*Demo\/rules\.yar:1/);
    assert.equal(y.state().state, 'degraded');
    assert.equal((await y.engine({ path: file, sha256: 'a'.repeat(64), pid: 1 }))[0]?.ruleId, 'yara:Demo:Marker_One');
    const restarted = createYaraRules({ stateDir: dir, client });
    await restarted.load();
    assert.equal(restarted.status().rules, 2, 'the fallback set is what was saved');

    // packs removed on the server are removed here
    client.next = bundle('a3');
    y.offer('a3');
    await y.sync();
    assert.deepEqual(y.status(), { revision: 'a3', packs: 0, rules: 0, problem: null });
    assert.deepEqual(await y.engine({ path: file, sha256: 'a'.repeat(64), pid: 1 }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('files over the size bound are not scanned; meta verdict = "suspicious" gives a suspicious finding', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-yara-'));
  try {
    const y = createYaraRules({ stateDir: dir, client: fakeClient(bundle('a1', ['p1', 'Demo', 1, RULE], ['p2', 'Odd', 1, SUSPICIOUS])), maxScanBytes: 1024 });
    await y.sync();
    const big = join(dir, 'big.bin');
    writeFileSync(big, Buffer.concat([Buffer.from('yamori-yara-marker'), Buffer.alloc(2048)]));
    assert.deepEqual(await y.engine({ path: big, sha256: 'b'.repeat(64), pid: 1 }), []);
    const odd = join(dir, 'odd.bin');
    writeFileSync(odd, 'odd-marker');
    assert.deepEqual((await y.engine({ path: odd, sha256: 'd'.repeat(64), pid: 1 })).map((f) => [f.verdict, f.ruleId]), [['suspicious', 'yara:Odd:Odd']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('a YARA finding blocks in block mode and only alerts (would have denied) in monitor mode', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-yara-'));
  try {
    const y = createYaraRules({ stateDir: dir, client: fakeClient(bundle('a1', ['p1', 'Demo', 1, RULE])) });
    await y.sync();
    const file = join(dir, 'm.bin');
    writeFileSync(file, 'yamori-yara-marker');
    const engines = await y.engine({ path: file, sha256: 'e'.repeat(64), pid: 1 });
    const decide = (mode: Mode) => {
      const policy = defaultPolicy();
      policy.modules.malware.mode = mode;
      return decideExec({ subject: { path: file, sha256: 'e'.repeat(64) }, policy, exclusions: indexExclusions([]), blocklist: new Set(), engines, lookup: 'unavailable', now: 0 });
    };
    const block = decide('block');
    assert.equal(block.allow, false);
    assert.equal(block.detection?.rule.id, 'yara:Demo:Marker_One');
    assert.equal(block.detection?.yamori.action, 'deny_exec');
    assert.match(block.detection?.yamori.reasons.join('\n') ?? '', /\$a at offset 0/);
    const monitor = decide('monitor');
    assert.equal(monitor.allow, true);
    assert.equal(monitor.detection?.yamori.would_have, 'deny_exec');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
