import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finding } from './finding.ts';
import { ANOMALY_MAX_WEIGHT, decideVerdict, MALICIOUS_SCORE, SUSPICIOUS_SCORE } from './verdict.ts';

const upx = finding('elf.packer.upx', 45, 'high', 'packed');
const pool = finding('elf.strings.mining-pool', 45, 'high', 'pool');
const small = finding('elf.static-stripped', 5, 'low', 'static');

describe('decideVerdict', () => {
  it('blocklist → malicious 100, even when also allowlisted', () => {
    const v = decideVerdict({ trust: { blocklist: { source: 'intel' }, allowlist: { source: 'tenant' } }, findings: [] });
    assert.equal(v.verdict, 'malicious');
    assert.equal(v.score, 100);
    assert.deepEqual(v.reasons.map((r) => r.id), ['trust.blocklist', 'trust.allowlist.ignored']);
  });

  it('allowlist and unmodified package files are benign, findings kept as unweighted reasons', () => {
    for (const trust of [{ allowlist: { source: 'tenant' } }, { package: { name: 'coreutils', digestMatches: true } }]) {
      const v = decideVerdict({ trust, findings: [upx] });
      assert.equal(v.verdict, 'benign');
      assert.equal(v.score, 0);
      assert.equal(v.reasons[1]?.id, 'elf.packer.upx');
      assert.equal(v.reasons[1]?.weight, 0);
    }
  });

  it('a modified package file adds weight: alone unknown, with any other sign suspicious', () => {
    const modified = { package: { name: 'coreutils', digestMatches: false } };
    assert.equal(decideVerdict({ trust: modified, findings: [] }).verdict, 'unknown');
    const v = decideVerdict({ trust: modified, findings: [small] });
    assert.deepEqual(v.reasons.map((r) => r.id), ['trust.package.modified', 'elf.static-stripped']);
    assert.equal(v.verdict, 'suspicious');
  });

  it('no findings → unknown (static analysis never proves a file clean)', () => {
    assert.deepEqual(decideVerdict({ findings: [] }), { verdict: 'unknown', score: 0, reasons: [] });
  });

  it('thresholds: suspicious from SUSPICIOUS_SCORE; malicious needs the score and two strong findings', () => {
    assert.equal(decideVerdict({ findings: [finding('a', SUSPICIOUS_SCORE - 1, 'medium', 'a')] }).verdict, 'unknown');
    assert.equal(decideVerdict({ findings: [finding('a', SUSPICIOUS_SCORE, 'medium', 'a')] }).verdict, 'suspicious');
    assert.equal(decideVerdict({ findings: [finding('a', MALICIOUS_SCORE, 'medium', 'a')] }).verdict, 'suspicious');
    const v = decideVerdict({ findings: [small, upx, pool] });
    assert.equal(v.verdict, 'malicious');
    assert.equal(v.score, 95);
    assert.deepEqual(v.reasons.map((r) => r.id), ['elf.packer.upx', 'elf.strings.mining-pool', 'elf.static-stripped']);
  });

  it('score is capped at 100', () => {
    assert.equal(decideVerdict({ findings: [upx, pool, upx, pool] }).score, 100);
  });

  it('the anomaly score adds at most ANOMALY_MAX_WEIGHT and alone cannot make a file suspicious', () => {
    assert.deepEqual(decideVerdict({ findings: [], anomaly: { score: 0.4, model: 'm@1' } }).reasons, []);
    const top = decideVerdict({ findings: [], anomaly: { score: 1, model: 'm@1' } });
    assert.equal(top.score, ANOMALY_MAX_WEIGHT);
    assert.equal(top.verdict, 'unknown');
    assert.equal(decideVerdict({ findings: [finding('x', 20, 'medium', 'x')], anomaly: { score: 1, model: 'm@1' } }).verdict, 'suspicious');
  });
});
