// The loader never throws: a missing or broken addon becomes "unavailable: reason".
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { allProtections, loadLinuxSensors, opensForWrite } from './index.ts';

describe('loadLinuxSensors', () => {
  it('reports a missing addon as unavailable with the protections that are off', () => {
    const r = loadLinuxSensors({ addonPath: '/nonexistent/yamori_sensor.node' });
    assert.equal(r.available, false);
    if (r.available) return;
    assert.match(r.reason, /not built/);
    assert.deepEqual([...r.protectionsOff], [...allProtections]);
  });

  it('reports an addon that does not load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'yamori-loader-'));
    try {
      const bogus = join(dir, 'bogus.node');
      writeFileSync(bogus, 'not an ELF object');
      const r = loadLinuxSensors({ addonPath: bogus });
      assert.equal(r.available, false);
      if (!r.available) assert.match(r.reason, /failed to load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the built addon on Linux and probes the kernel', { skip: process.platform !== 'linux' }, () => {
    const r = loadLinuxSensors();
    if (!r.available) {
      // the build step is part of npm ci: an unbuilt addon here is a real failure
      assert.fail(r.reason);
    }
    const probe = r.sensors.probe();
    assert.equal(typeof probe['contentReportPidfd'], 'string');
  });

  it('classifies open flags for decoy reports', () => {
    assert.equal(opensForWrite(0), false); // O_RDONLY
    assert.equal(opensForWrite(1), true); // O_WRONLY
    assert.equal(opensForWrite(2), true); // O_RDWR
    assert.equal(opensForWrite(0o1000), true); // O_TRUNC
    assert.equal(opensForWrite(-1), true); // unknown
  });
});
