import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { installErrorHandler } from '../../lib/errors.ts';
import type { AgentPackage, AgentPackages } from './agent-package.ts';
import { distributionRoutes, INSTALL_SCRIPT_PATH } from './routes.ts';

async function appWith(t: { after: (fn: () => unknown) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'ymr-dist-'));
  const body = Buffer.from('not really a tarball, but bytes all the same\n');
  const fileName = 'yamori-agent-0.1.0-0123456789ab-linux-x64.tar.gz';
  writeFileSync(join(dir, fileName), body);
  const pkg: AgentPackage = {
    version: '0.1.0-0123456789ab',
    platform: 'linux-x64',
    fileName,
    path: join(dir, fileName),
    sha256: createHash('sha256').update(body).digest('hex'),
    size: body.length,
  };
  let calls = 0;
  const packages: AgentPackages = {
    platform: 'linux-x64',
    current: async () => {
      calls++;
      return pkg;
    },
  };
  const app = Fastify();
  installErrorHandler(app);
  await app.register(distributionRoutes, { packages });
  t.after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, pkg, body, calls: () => calls };
}

test('GET /install.sh serves the installer, unauthenticated and uncached', async (t) => {
  const { app, calls } = await appWith(t);
  const res = await app.inject({ method: 'GET', url: '/install.sh' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/x-shellscript/);
  assert.equal(res.headers['cache-control'], 'no-cache');
  assert.equal(res.body, readFileSync(INSTALL_SCRIPT_PATH, 'utf8'));
  assert.match(res.body, /^#!\/usr\/bin\/env bash\n/);
  assert.match(res.body, /\nmain "\$@"\n$/, 'runs nothing until its last line has arrived');
  assert.equal(calls(), 0, 'serving the script builds no package');
});

test('GET /downloads/agent-linux-x64.sha256 names the current package in sha256sum format', async (t) => {
  const { app, pkg } = await appWith(t);
  const res = await app.inject({ method: 'GET', url: '/downloads/agent-linux-x64.sha256' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.equal(res.headers['cache-control'], 'no-cache');
  assert.equal(res.body, `${pkg.sha256}  ${pkg.fileName}\n`);
});

test('GET /downloads/FILE streams the package with its length and checksum; immutable', async (t) => {
  const { app, pkg, body } = await appWith(t);
  const res = await app.inject({ method: 'GET', url: `/downloads/${pkg.fileName}` });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/gzip');
  assert.equal(Number(res.headers['content-length']), pkg.size);
  assert.equal(res.headers['x-yamori-sha256'], pkg.sha256);
  assert.match(String(res.headers['cache-control']), /immutable/);
  assert.deepEqual(res.rawPayload, body);
  const head = await app.inject({ method: 'HEAD', url: `/downloads/${pkg.fileName}` });
  assert.equal(head.statusCode, 200);
  assert.equal(Number(head.headers['content-length']), pkg.size);
});

test('another platform, an old package or any other name: 404 with what to do', async (t) => {
  const { app } = await appWith(t);
  const arm = await app.inject({ method: 'GET', url: '/downloads/agent-linux-arm64.sha256' });
  assert.equal(arm.statusCode, 404);
  assert.match(arm.json<{ message: string }>().message, /linux-x64, only/);
  for (const name of ['yamori-agent-0.0.9-aaaaaaaaaaaa-linux-x64.tar.gz', '..%2F..%2Fetc%2Fpasswd', 'install.sh']) {
    const res = await app.inject({ method: 'GET', url: `/downloads/${name}` });
    assert.equal(res.statusCode, 404, name);
    assert.equal(res.json<{ code: string }>().code, 'not_found');
  }
});
