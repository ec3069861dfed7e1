import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIntelConfig, startIntelService } from '@yamori/intel';
import { intelCommand } from './intel.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'intel', 'src', 'feeds', 'fixtures');

/** Runs the command, returning its exit code and what it printed. */
async function run(t: { mock: { method: typeof import('node:test').mock.method } }, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = t.mock.method(console, 'log', (...a: unknown[]) => void out.push(a.join(' ')));
  const error = t.mock.method(console, 'error', (...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await intelCommand(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mock.restore();
    error.mock.restore();
  }
}

test('yamori intel: org, key, import, lookup and export on the local database; bad flags exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-cli-intel-'));
  try {
    const data = ['--data', dir];
    const org = await run(t, ['org', 'add', 'acme', ...data, '--json']);
    assert.equal(org.code, 0, org.err);
    const { id } = JSON.parse(org.out) as { id: string };
    const key = await run(t, ['key', 'add', '--org', 'acme', ...data, '--json']);
    assert.equal((JSON.parse(key.out) as { orgId: string }).orgId, id);
    const imp = await run(t, ['import', join(FIXTURES, 'stix-bundle.json'), '--format', 'stix', '--source', 'cert', ...data, '--json']);
    assert.equal(imp.code, 0, imp.err);
    assert.deepEqual((JSON.parse(imp.out) as { imported: number; rejected: number }).imported, 5);
    const look = await run(t, ['lookup', '203.0.114.7', 'cnc.mirai-example.net', '198.51.99.1', '8.8.8.8', ...data, '--json']);
    assert.deepEqual(
      (JSON.parse(look.out) as { results: { verdict: string }[] }).results.map((r) => r.verdict),
      ['malicious', 'malicious', 'malicious', 'unknown'],
    );
    assert.equal((await run(t, ['lookup', '--type', 'bogus', 'x', ...data])).code, 2);
    assert.equal((await run(t, ['import', 'x.json', '--format', 'xml', ...data])).code, 2);
    assert.equal((await run(t, ['key', 'add', '--worker', '--admin', ...data])).code, 2);
    assert.equal((await run(t, ['frobnicate'])).code, 2);
    assert.equal((await run(t, ['--bogus-flag'])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('yamori intel: import and export against a running service with --url/--key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'yamori-cli-intel-'));
  const adminKey = 'cli-test-admin-key-0123456789abcdef';
  const svc = await startIntelService(loadIntelConfig({ dataDir: dir, port: 0, adminKey, logLevel: 'silent' }));
  try {
    const remote = ['--url', svc.url, '--key', adminKey];
    const imp = await run(t, ['import', join(FIXTURES, 'ip-blocklist.txt'), '--format', 'list', '--type', 'ip', ...remote, '--json']);
    assert.equal(imp.code, 0, imp.err);
    assert.deepEqual((JSON.parse(imp.out) as { imported: number; rejected: number }).rejected, 6);
    const written: string[] = [];
    const w = t.mock.method(process.stdout, 'write', (s: string) => written.push(s) > 0);
    const exp = await intelCommand(['export', 'ip', ...remote]);
    w.mock.restore();
    assert.equal(exp, 0);
    assert.match(written.join(''), /^185\.220\.101\.33$/m);
    // The top-level runner turns this into "yamori intel: …" and exit code 1.
    await assert.rejects(intelCommand(['lookup', '1.2.3.4', '--url', svc.url, '--key', 'wrong-key']), /HTTP 401: unknown or revoked API key/);
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
