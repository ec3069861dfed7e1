// The ransomware module on the real kernel (root): decoys, the fanotify guard, the behavioural
// detector, and exclusions, each through the agent's real responder and a real pidfd kill.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, linkSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { identifyFileType } from '@yamori/detection';
import { loadLinuxSensors, type LinuxSensors } from '@yamori/sensor-linux';
import { DECOYS, decoyContent } from './decoy-content.ts';
import { MANIFEST } from './decoy-manager.ts';
import { ransomwarePolicy, startHarness, waitFor, type Harness } from './testing/harness.ts';

const SIMULATOR = join(import.meta.dirname, 'testing', 'simulator.ts');
const isRoot = process.getuid?.() === 0;
const loaded = isRoot ? loadLinuxSensors() : undefined;
if (loaded && !loaded.available && process.env['YAMORI_SENSOR_OPTIONAL'] !== '1') throw new Error(`sensor addon unavailable: ${loaded.reason}`);
const native: LinuxSensors | undefined = loaded?.available ? loaded.sensors : undefined;
const skip = !isRoot ? 'needs root (fanotify)' : !native ? 'sensor addon unavailable' : false;

interface Run {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
}

function run(cmd: string, args: string[]): Run {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exit, stdout: () => out };
}

/** A folder of documents worth encrypting. */
function documents(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    writeFileSync(join(dir, `report-${String(i).padStart(3, '0')}.txt`), `Quarterly report ${i}\n`.repeat(40));
    writeFileSync(join(dir, `invoice-${String(i).padStart(3, '0')}.pdf`), `%PDF-1.4\n% invoice ${i}\n`.repeat(30));
  }
}

describe('ransomware module (real kernel)', { skip }, () => {
  let root: string;
  let stateDir: string;
  const harnesses: Harness[] = [];
  const children: ChildProcess[] = [];
  const start = async (...args: Parameters<typeof ransomwarePolicy>) => {
    const h = await startHarness(native!, stateDir, ransomwarePolicy(...args), { checkIntervalMs: 3_600_000 });
    harnesses.push(h);
    return h;
  };
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'yamori-ransomware-'));
    stateDir = mkdtempSync(join(tmpdir(), 'yamori-ransomware-state-'));
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const h of harnesses) await h.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('places decoys of valid formats, owned like the folder, lists them, re-creates them, removes them with the folder', async () => {
    const home = join(root, 'home');
    for (const u of ['alice', 'bob']) mkdirSync(join(home, u, 'Documents'), { recursive: true });
    chownSync(join(home, 'alice'), 1234, 1234);
    const h = await start('block', [`${home}/*`, `${home}/*/Documents`]);
    const folders = [join(home, 'alice'), join(home, 'alice', 'Documents'), join(home, 'bob'), join(home, 'bob', 'Documents')];
    assert.equal(h.module.decoys().length, folders.length * DECOYS.length);
    const expected = { docx: 'ooxml-docx', xlsx: 'ooxml-xlsx', pdf: 'pdf', jpeg: 'jpeg', csv: 'text' } as const;
    for (const f of folders) {
      for (const spec of DECOYS) {
        const bytes = readFileSync(join(f, spec.name));
        assert.equal(identifyFileType(bytes).format, expected[spec.type], `${spec.name} is a valid ${spec.type}`);
      }
    }
    assert.equal(statSync(join(home, 'alice', DECOYS[0]!.name)).uid, 1234, 'owned like the folder');
    const docs = DECOYS.map((d) => readFileSync(join(folders[0]!, d.name)));
    const other = DECOYS.map((d) => readFileSync(join(folders[2]!, d.name)));
    assert.ok(docs.every((b, i) => !b.equals(other[i]!)), 'every decoy differs (no hash to skip them by)');
    // listed for the operator: module state and the manifest in the state dir
    const state = h.module.state();
    assert.equal(state.state, 'active', state.reason);
    assert.match(state.reason ?? '', /20 decoys in 4 folder/);
    const manifest = JSON.parse(readFileSync(join(stateDir, MANIFEST), 'utf8')) as { decoys: { path: string }[] };
    assert.equal(manifest.decoys.length, 20);

    // deleted by another process (rm) → back, with a valid header
    const victim = join(home, 'bob', DECOYS[1]!.name);
    const rm = run('rm', ['-f', victim]);
    assert.equal((await rm.exit).code, 0);
    assert.ok(await waitFor(() => existsSync(victim)), 'the watcher brought the decoy back');
    assert.equal(identifyFileType(readFileSync(victim)).format, 'pdf');
    // missed by the watcher (removed by the agent itself) → the periodic check brings it back
    const missed = join(home, 'alice', DECOYS[3]!.name);
    unlinkSync(missed);
    h.module.check();
    assert.ok(existsSync(missed));
    assert.equal(h.alerts.length, 0, 'a deletion alone (rm, no encryption) is no detection');

    // the folder leaves the policy → its decoys go
    h.setPolicy(ransomwarePolicy('block', [`${home}/alice`]));
    assert.ok(!existsSync(join(home, 'bob', DECOYS[0]!.name)));
    assert.ok(!existsSync(join(home, 'alice', 'Documents', DECOYS[0]!.name)));
    assert.ok(existsSync(join(home, 'alice', DECOYS[0]!.name)));
    assert.equal(h.module.decoys().length, DECOYS.length);
    h.setPolicy(ransomwarePolicy('off', [`${home}/alice`]));
    assert.ok(!existsSync(join(home, 'alice', DECOYS[0]!.name)), 'module off: no decoys');
    await h.stop();

    // a file that merely carries a decoy name is never taken over or touched; a decoy a lost state
    // directory left behind (valid format) is taken over
    const carol = join(home, 'carol');
    mkdirSync(carol);
    writeFileSync(join(carol, DECOYS[0]!.name), 'my own notes, not a docx');
    writeFileSync(join(carol, DECOYS[1]!.name), decoyContent('pdf', 42));
    rmSync(join(stateDir, MANIFEST));
    const again = await start('block', [carol]);
    assert.equal(readFileSync(join(carol, DECOYS[0]!.name), 'utf8'), 'my own notes, not a docx');
    assert.ok(!again.module.decoys().some((d) => d.path === join(carol, DECOYS[0]!.name)));
    assert.ok(again.module.decoys().some((d) => d.path === join(carol, DECOYS[1]!.name)), 'the orphaned decoy is guarded again');
    assert.equal(again.module.state().state, 'degraded', 'the foreign file is reported');
    await again.stop();
  });

  it('block mode: a process that writes a decoy is denied and its process tree killed; the alert names the module', async () => {
    const dir = join(root, 'block');
    mkdirSync(dir);
    const h = await start('block', [dir]);
    const decoy = join(dir, DECOYS[0]!.name);
    const before = readFileSync(decoy);
    // sh forks a long sleep first: the whole tree must go, not only the writer
    const r = run('sh', ['-c', `sleep 300 & echo encrypted > '${decoy}'; wait`]);
    children.push(r.child);
    const { signal } = await r.exit;
    assert.equal(signal, 'SIGKILL');
    assert.deepEqual(readFileSync(decoy), before, 'the write was denied in the kernel');
    assert.ok(await waitFor(() => h.alerts.length > 0));
    const alert = h.alerts[0]!;
    assert.equal(alert.yamori.module, 'ransomware');
    assert.equal(alert.yamori.mode, 'block');
    assert.equal(alert.rule.id, 'yamori-ransomware-decoy-write');
    assert.equal(alert.event.action, 'ransomware_kill_tree');
    assert.equal(alert.process?.pid, r.child.pid);
    assert.equal(alert.file?.path, decoy);
    const killed = (alert.yamori.reasons ?? []).find((x) => x.startsWith('kill_tree:')) ?? '';
    assert.match(killed, /killed 2 process/, 'sh and its sleep');
    assert.match(alert.yamori.reasons?.[0] ?? '', /stopped inside the open/, 'the addon froze it before the denial returned');
    await h.stop();
  });

  it('monitor mode: the writer runs on, a "would have" alert is recorded, the decoy is restored', async () => {
    const dir = join(root, 'monitor');
    mkdirSync(dir);
    const h = await start('monitor', [dir]);
    const decoy = join(dir, DECOYS[2]!.name);
    const r = run('sh', ['-c', `echo encrypted > '${decoy}'`]);
    const { code, signal } = await r.exit;
    assert.equal(signal, null);
    assert.equal(code, 0, 'nothing is denied in monitor mode');
    assert.ok(await waitFor(() => h.alerts.length > 0));
    const alert = h.alerts[0]!;
    assert.equal(alert.yamori.module, 'ransomware');
    assert.equal(alert.yamori.mode, 'monitor');
    assert.equal(alert.yamori.would_have, 'kill_tree');
    assert.equal(alert.event.action, 'ransomware_would_kill_tree');
    assert.ok(await waitFor(() => identifyFileType(readFileSync(decoy)).format === 'text' && !readFileSync(decoy, 'utf8').startsWith('encrypted')), 'restored');
    await h.stop();
  });

  it('the behavioural detector kills a process that encrypts many files below a decoy folder (one that avoids the decoys)', async () => {
    const dir = join(root, 'behaviour');
    mkdirSync(dir);
    const h = await start('block', [dir]);
    // created after the module started, two levels below the policy's folder: watched too
    documents(join(dir, 'projects', '2026'), 40);
    assert.ok(await waitFor(() => h.module.stats().watchedDirs === 3), 'the new directories joined the watch');
    const sim = run(process.execPath, [SIMULATOR, '--root', dir, '--skip-decoy-names', '--linger']);
    children.push(sim.child);
    const { signal } = await sim.exit;
    assert.equal(signal, 'SIGKILL');
    assert.ok(await waitFor(() => h.alerts.length > 0));
    const alert = h.alerts[0]!;
    assert.equal(alert.rule.id, 'yamori-ransomware-behaviour');
    assert.equal(alert.yamori.module, 'ransomware');
    assert.equal(alert.process?.pid, sim.child.pid);
    assert.match(alert.yamori.reasons?.[0] ?? '', /file\(s\) encrypted/);
    await h.stop();
  });

  for (const kind of ['path', 'sha256'] as const) {
    it(`a backup tool excluded by ${kind} writes decoys and rewrites files without being denied or killed`, async () => {
      const dir = join(root, `backup-${kind}`);
      documents(dir, 40);
      const bin = mkdtempSync(join(tmpdir(), 'yamori-backup-bin-'));
      const tool = join(bin, 'yamori-test-backup');
      try {
        linkSync(process.execPath, tool);
      } catch {
        copyFileSync(process.execPath, tool);
      }
      after(() => rmSync(bin, { recursive: true, force: true }));
      const value = kind === 'path' ? `${bin}/yamori-test-*` : createHash('sha256').update(readFileSync(tool)).digest('hex');
      const h = await start('block', [dir], [{ id: 'backup-tool', kind, value, modules: ['ransomware'] }]);
      const decoy = join(dir, DECOYS[0]!.name);
      // the same encryption, run by the excluded binary, decoys included
      const sim = run(tool, [SIMULATOR, '--root', dir, '--wait']);
      children.push(sim.child);
      assert.ok(await waitFor(() => sim.stdout().includes('ready')));
      assert.ok(await waitFor(() => h.module.excludedPid(sim.child.pid!)), 'the exec made the addon let it through');
      sim.child.stdin?.write('go\n');
      const { code, signal } = await sim.exit;
      assert.equal(signal, null);
      assert.equal(code, 0);
      assert.ok(existsSync(`${decoy}.locked`), 'the decoy write was not denied');
      assert.equal(h.alerts.length, 0);
      await h.stop();
    });
  }
});
