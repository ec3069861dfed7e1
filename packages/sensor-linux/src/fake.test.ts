// The fake keeps the gate's contract, so agent tests written against it hold on the real one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeSensors, type GateNotice } from './index.ts';

describe('createFakeSensors', () => {
  it('asks JS on a miss, caches and marks on request, applies the fail rule on timeout', async () => {
    const fake = createFakeSensors();
    const notices: GateNotice[] = [];
    let answer: 'allow' | 'deny' | 'none' = 'deny';
    const gate = fake.startExecGate({
      timeoutMs: 20,
      failClosedPrefixes: ['/tmp'],
      onExec: (req) => {
        if (answer !== 'none') gate.respond(req.id, answer, { cache: true });
      },
      onNotice: (n) => notices.push(n),
    });
    assert.equal(await fake.exec({ path: '/usr/bin/x', ino: 5 }), 'deny');
    assert.equal(await fake.exec({ path: '/usr/bin/x', ino: 5 }), 'deny');
    assert.equal(gate.stats().cacheHits, 1);
    gate.invalidate({ dev: 1, ino: 5 });
    answer = 'none';
    assert.equal(await fake.exec({ path: '/usr/bin/x', ino: 5 }), 'allow', 'fail-open');
    assert.equal(await fake.exec({ path: '/tmp/dropper', ino: 6 }), 'deny', 'fail-closed prefix');
    assert.deepEqual(
      notices.map((n) => (n.kind === 'expired' ? n.verdict : n.kind)),
      ['allow', 'deny'],
    );
    gate.allowPid(4242);
    assert.equal(await fake.exec({ path: '/tmp/helper', ino: 7, pid: 4242 }), 'allow');
    const pending = fake.exec({ path: '/usr/bin/y', ino: 8 });
    gate.configure({ timeoutMs: 60000 });
    gate.stop();
    assert.equal(await pending, 'allow', 'stop allows what is pending');
  });
});
