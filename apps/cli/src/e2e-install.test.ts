// The one-line install command, end to end: the real server (`yamori up`) builds and serves the
// agent package and the installer; the command the API prints runs in sh, as root, with curl,
// into a scratch install root (YAMORI_INSTALL_ROOT: no unit in /etc, no service started,
// /usr/local/bin untouched); the installed `yamori` on its own Node is enrolled with the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEnrollmentToken, parseEnrollmentToken } from '@yamori/protocol';
import { consoleSession, startYamori } from './test-support.ts';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** `sh -c COMMAND`, as an administrator would paste it; resolves with its exit code and output. */
function sh(command: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

function describeBin(path: string): string {
  if (!existsSync(path) && !isLink(path)) return 'absent';
  const s = lstatSync(path);
  return s.isSymbolicLink() ? `link ${readlinkSync(path)}` : `file ${s.ino} ${s.size}`;
}
function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

test('the one-line install command installs, enrolls and upgrades the agent; a wrong pin installs nothing', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  // what an endpoint has (curl is the one a minimal Debian lacks)
  execFileSync('bash', ['scripts/apt-ensure.sh', 'curl', 'coreutils', 'tar', 'gzip', 'sed'], { cwd: join(import.meta.dirname, '..', '..', '..'), stdio: 'inherit' });
  const scratch = mkdtempSync(join(tmpdir(), 'ymr-install-'));
  const systemBin = describeBin('/usr/local/bin/yamori');
  const port = await freePort();
  const server = await startYamori(['up', '--data', join(scratch, 'data'), '--port', String(port)]);
  t.after(async () => {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
    assert.equal(describeBin('/usr/local/bin/yamori'), systemBin, 'the machine’s own yamori command is untouched');
  });
  const ca = readFileSync(join(scratch, 'data', 'tls', 'ca.pem'), 'utf8');
  const { api } = await consoleSession(server.url, ca, 'admin@yamori.local', server.password ?? '');
  const [group] = (await api('GET', '/groups')).json<Array<{ id: string }>>();
  const created = await api('POST', '/enrollment-tokens', { groupId: group?.id, name: 'one-liner', expiresInHours: 1 });
  assert.equal(created.status, 201, created.body);
  const { token, installCommand } = created.json<{ token: string; installCommand: string }>();
  assert.equal(parseEnrollmentToken(token).url, server.url);

  // 1. A fresh install.
  const root = join(scratch, 'root');
  const started = performance.now();
  const first = await sh(installCommand, { YAMORI_INSTALL_ROOT: root });
  t.diagnostic(`first install (package built on the server, downloaded, unpacked, enrolled): ${Math.round(performance.now() - started)} ms`);
  assert.equal(first.code, 0, `${first.out}\n${first.err}`);
  assert.match(first.out, /installed 0\.1\.0-[0-9a-f]{12} in /);
  const current = readlinkSync(join(root, 'opt/yamori/current'));
  const versionDir = join(root, 'opt/yamori', current);
  assert.equal(readlinkSync(join(root, 'usr/local/bin/yamori')), join(root, 'opt/yamori/current/bin/yamori'));
  const unit = readFileSync(join(root, 'etc/systemd/system/yamori-agent.service'), 'utf8');
  assert.ok(unit.includes(`ExecStart=${realpathSync(join(versionDir, 'bin/node'))} `), unit);
  const pkgSize = Number((await fetchHead(server.url, ca, current)) ?? 0);
  t.diagnostic(`agent package: ${pkgSize} bytes (${(pkgSize / 1048576).toFixed(1)} MiB)`);

  // The installed yamori, on the installed Node, is enrolled with the server and can reach it.
  const stateDir = join(root, 'var/lib/yamori');
  const status = spawnSync(join(root, 'usr/local/bin/yamori'), ['agent', 'status', '--json', '--state', stateDir], { encoding: 'utf8' });
  assert.equal(status.status, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { enrolled: boolean; server: string; agentId: string };
  assert.deepEqual([report.enrolled, report.server], [true, server.url]);
  const agent = await api('GET', `/agents/${report.agentId}`);
  assert.equal(agent.status, 200, `the server knows the new agent: ${agent.body}`);
  // the package carries esbuild: `agent install` on the endpoint built the agent's bundle (ADR 0012)
  assert.ok(existsSync(join(stateDir, 'agent-bundle', 'agent.mjs')), `${first.out}\n${first.err}`);
  assert.doesNotMatch(`${first.out}\n${first.err}`, /bundle/i, 'no warning about the agent bundle');

  // 2. Again, over two older versions with the older-but-one current: installs this version,
  // switches to it, keeps the one it replaced, removes the rest, keeps the enrollment.
  for (const v of ['0.0.1-aaaaaaaaaaaa', '0.0.2-bbbbbbbbbbbb']) mkdirSync(join(root, 'opt/yamori', v, 'bin'), { recursive: true });
  rmSync(versionDir, { recursive: true });
  symlinkSync('0.0.2-bbbbbbbbbbbb', join(root, 'opt/yamori/.link'));
  renameSync(join(root, 'opt/yamori/.link'), join(root, 'opt/yamori/current'));
  const again = performance.now();
  const second = await sh(installCommand, { YAMORI_INSTALL_ROOT: root });
  t.diagnostic(`reinstall (package cached on the server, already enrolled): ${Math.round(performance.now() - again)} ms`);
  assert.equal(second.code, 0, `${second.out}\n${second.err}`);
  assert.match(second.out, /already enrolled with/);
  assert.equal(readlinkSync(join(root, 'opt/yamori/current')), current);
  assert.deepEqual(readdirSync(join(root, 'opt/yamori')).sort(), ['0.0.2-bbbbbbbbbbbb', current, 'current'].sort());
  assert.equal(spawnSync(join(root, 'usr/local/bin/yamori'), ['agent', 'status', '--state', stateDir]).status, 0);

  // 3. A command whose pin is not the server's CA fetches no installer and installs nothing.
  const pin = parseEnrollmentToken(token).caSha256 ?? '';
  const forged = installCommand.replace(pin, 'f'.repeat(64));
  assert.notEqual(forged, installCommand);
  const root2 = join(scratch, 'root2');
  const refused = await sh(forged, { YAMORI_INSTALL_ROOT: root2 });
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /does not match the fingerprint in this command; nothing was installed/);
  assert.equal(existsSync(root2), false);

  // 4. The installer checks the token's pin itself too (whoever runs it without the command's check).
  const script = join(scratch, 'install.sh');
  const got = spawnSync('curl', ['-fsS', '--cacert', join(scratch, 'data', 'tls', 'ca.pem'), '-o', script, `${server.url}/install.sh`], { encoding: 'utf8' });
  assert.equal(got.status, 0, got.stderr);
  const { url, secret } = parseEnrollmentToken(token);
  const wrongPin = encodeEnrollmentToken({ v: 1, url, caSha256: 'e'.repeat(64), secret });
  const direct = await sh(`bash ${script}`, { YAMORI_INSTALL_ROOT: root2, YAMORI_ENROLL_TOKEN: wrongPin });
  assert.notEqual(direct.code, 0);
  assert.match(direct.err, /the token pins e{64}: someone may be intercepting the connection.*Nothing was installed/);
  assert.equal(existsSync(join(root2, 'opt')), false);
});

/** Content-Length of the current package (HEAD), to report its size. */
async function fetchHead(base: string, ca: string, version: string): Promise<string | undefined> {
  const { call } = await import('./test-support.ts');
  const sum = await call(`${base}/downloads/agent-linux-x64.sha256`, { ca });
  const file = sum.body.trim().split(/\s+/)[1] ?? '';
  assert.ok(file.includes(version), `${file} is the installed version ${version}`);
  const head = await call(`${base}/downloads/${file}`, { method: 'HEAD', ca });
  return head.headers['content-length'] as string | undefined;
}
