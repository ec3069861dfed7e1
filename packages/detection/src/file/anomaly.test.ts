import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { anomalyScore, parseAnomalyModel, type RobustZscoreModel } from './anomaly.ts';
import { bufferReader } from './byte-reader.ts';
import { analyzeElf, ELF_FEATURE_NAMES } from './elf.ts';
import { synthUpxElf } from './test-binaries.ts';

const model: RobustZscoreModel = {
  format: 'yamori-anomaly',
  version: 1,
  name: 'test',
  created: '2026-11-22',
  kind: 'robust-zscore',
  features: [
    { name: 'a', transform: 'identity', median: 10, scale: 2 },
    { name: 'b', transform: 'log1p', median: Math.log1p(100), scale: 0.5 },
  ],
  calibration: { d50: 3 },
};

describe('anomaly model', () => {
  it('robust-zscore: 0 at the medians, 0.5 at the calibration distance, rising towards 1', () => {
    assert.equal(anomalyScore({ a: 10, b: 100 }, model), 0);
    // z_a = 3·√2 → RMS over two features = 3 = d50
    assert.ok(Math.abs(anomalyScore({ a: 10 + 2 * 3 * Math.SQRT2, b: 100 }, model) - 0.5) < 1e-9);
    assert.ok(anomalyScore({ a: 1000, b: 1e9 }, model) > 0.8);
    assert.ok(anomalyScore({ a: 1000, b: 1e9 }, model) < 1);
  });

  it('logistic models score with a sigmoid', () => {
    const m = parseAnomalyModel({ format: 'yamori-anomaly', version: 1, name: 'sup', created: 'x', kind: 'logistic', bias: 0, features: [{ name: 'a', transform: 'identity', mean: 0, std: 1, weight: 1 }] });
    assert.equal(anomalyScore({ a: 0 }, m), 0.5);
    assert.ok(anomalyScore({ a: 5 }, m) > 0.99);
  });

  it('parseAnomalyModel accepts a valid model and lists every problem of a bad one', () => {
    assert.equal(parseAnomalyModel(JSON.parse(JSON.stringify(model))).name, 'test');
    assert.throws(() => parseAnomalyModel({ format: 'x', version: 2, kind: 'robust-zscore', features: [{ name: 'a', transform: 'sqrt', median: 0, scale: 0 }] }), /format.*version.*name.*transform.*scale.*d50/);
    assert.throws(() => parseAnomalyModel(null), /invalid anomaly model/);
  });
});

describe('the shipped model (models/elf-benign.json)', () => {
  const shipped = parseAnomalyModel(JSON.parse(readFileSync(new URL('../../models/elf-benign.json', import.meta.url), 'utf8')));
  const features = (bytes: Uint8Array) => analyzeElf(bufferReader(bytes)).features;

  it('parses and covers every ELF feature', () => {
    assert.deepEqual(shipped.features.map((f) => f.name), [...ELF_FEATURE_NAMES]);
  });

  it('scores /usr/bin/ls as typical and a UPX-style packed program as anomalous', () => {
    assert.ok(anomalyScore(features(readFileSync('/usr/bin/ls')), shipped) < 0.5);
    assert.ok(anomalyScore(features(synthUpxElf(readFileSync('/usr/bin/ls'))), shipped) > 0.5);
  });
});
