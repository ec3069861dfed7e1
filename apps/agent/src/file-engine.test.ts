import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { createFileEngine, findingsOf, loadDefaultModel, STATIC_RULES } from './file-engine.ts';

void test('static verdicts become decision findings; unknown and benign say nothing', () => {
  assert.deepEqual(findingsOf({ verdict: 'unknown', score: 10, reasons: [] }), []);
  assert.deepEqual(findingsOf({ verdict: 'benign', score: 0, reasons: [] }), []);
  const [f] = findingsOf({ verdict: 'malicious', score: 95, reasons: [{ id: 'elf.packed', weight: 40, message: 'Packed.', evidence: 'entropy 7.9' }] });
  assert.equal(f?.ruleId, STATIC_RULES.malicious.id);
  assert.equal(f?.module, 'malware');
  assert.equal(f?.score, 95);
  assert.deepEqual(f?.reasons, ['elf.packed: Packed. (entropy 7.9)']);
});

void test('the engine scores the file through the fd it is given, with the shipped model, once per hash', async () => {
  assert.ok(loadDefaultModel(), 'the model ships with @yamori/detection');
  let scored = 0;
  const engine = createFileEngine({ onScore: () => scored++ });
  const fd = openSync('/bin/true', 'r');
  try {
    assert.deepEqual(await engine({ path: '/nonexistent', sha256: 'a'.repeat(64), pid: 1, fd }), [], 'a system binary raises nothing');
    assert.deepEqual(await engine({ path: '/nonexistent', sha256: 'a'.repeat(64), pid: 1, fd }), []);
    assert.equal(scored, 1, 'the second exec of the same content is not scored again');
  } finally {
    closeSync(fd);
  }
});
