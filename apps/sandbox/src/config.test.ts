import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './config.ts';

void test('config: defaults, and every problem reported at once', () => {
  const c = loadConfig({
    YAMORI_INTEL_URL: 'https://intel.example:8443',
    YAMORI_SANDBOX_KEY: 'wk_0123456789',
  });
  assert.equal(c.waitS, 20);
  assert.equal(c.maxWallClockS, 120);
  assert.ok(Object.isFrozen(c));
  assert.throws(
    () =>
      loadConfig({
        YAMORI_INTEL_URL: 'ftp://x',
        YAMORI_SANDBOX_MAX_WALL_S: '0',
        YAMORI_SANDBOX_WORK_DIR: 'rel',
      }),
    (e: Error) =>
      [
        'YAMORI_INTEL_URL',
        'YAMORI_SANDBOX_KEY',
        'YAMORI_SANDBOX_MAX_WALL_S',
        'YAMORI_SANDBOX_WORK_DIR',
      ].every((k) => e.message.includes(k)),
  );
});
