// The close-write watch on the real kernel: marks only a private tmpfs, every watch stopped in
// after(), every fd it hands over closed.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, readSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { CloseWriteWatch, CloseWriteWatchOptions, WrittenFile } from './index.ts';
import { mountScratch, sensorsOrSkip, sh, sleep, waitFor, type Scratch } from './testing/harness.ts';

const { sensors, skip } = sensorsOrSkip();

describe('close-write watch', { skip: skip ?? false }, () => {
  let scratch: Scratch;
  const watches: CloseWriteWatch[] = [];
  const seen: WrittenFile[] = [];
  const children: ChildProcess[] = [];
  before(() => {
    scratch = mountScratch();
  });
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const w of watches) w.stop();
    for (const f of seen) closeSync(f.fd);
    scratch?.cleanup();
  });

  const start = (options: Partial<CloseWriteWatchOptions> = {}) => {
    const files: WrittenFile[] = [];
    const w = sensors!.startCloseWriteWatch({
      mounts: [scratch.dir],
      markMode: 'mount',
      ...options,
      onFiles: (batch) => {
        seen.push(...batch);
        files.push(...batch);
      },
    });
    watches.push(w);
    return { w, files, of: (path: string) => files.filter((f) => f.path === path) };
  };

  it('reports an executable written and closed, with the identity the exec gate keys on and a readable fd', async () => {
    const { w, of } = start();
    const path = `${scratch.dir}/tool`;
    const r = await sh(`cp /bin/true ${path}.tmp && cat ${path}.tmp > ${path} && chmod 755 ${path} && echo again >> ${path}`);
    assert.equal(r.code, 0);
    const st = statSync(path, { bigint: true });
    // one report per close-write (and the chmod): the last one carries the final identity
    assert.ok(await waitFor(() => of(path).some((f) => f.ctimeNs === st.ctimeNs)), JSON.stringify(w.stats()));
    const last = of(path).find((f) => f.ctimeNs === st.ctimeNs)!;
    assert.equal(fstatSync(last.fd, { bigint: true }).ino, st.ino, 'the fd is the file');
    assert.equal(last.ino, Number(st.ino));
    assert.equal(last.dev, Number(st.dev));
    assert.equal(last.size, Number(st.size));
    assert.equal(last.mtimeNs, st.mtimeNs);
    assert.equal(last.ctimeNs, st.ctimeNs);
    const head = Buffer.alloc(4);
    readSync(last.fd, head, 0, 4, 0);
    assert.equal(head.toString('latin1'), '\x7fELF');
    assert.ok(last.pid > 0 && last.pid !== process.pid);
    assert.equal(w.stats().running, true);
    w.stop();
    assert.equal(w.stats().running, false);
  });

  it('reports ELF and #! files without execute bits (downloaded, not yet chmod +x), not plain text (counted)', async () => {
    const { w, of } = start();
    const elf = `${scratch.dir}/download.bin`;
    const script = `${scratch.dir}/install.sh`;
    const text = `${scratch.dir}/notes.txt`;
    const r = await sh(`cat /bin/true > ${elf} && printf '#!/bin/sh\\necho hi\\n' > ${script} && echo hello > ${text} && chmod 644 ${elf} ${script} ${text}`);
    assert.equal(r.code, 0);
    assert.ok(await waitFor(() => of(elf).length > 0 && of(script).length > 0), JSON.stringify(w.stats()));
    await sleep(100);
    assert.equal(of(text).length, 0, 'a text file is not a candidate');
    const s = w.stats();
    assert.ok(s.filtered >= 1, JSON.stringify(s));
    w.stop();
  });

  it('hears chmod +x after the write (the ctime the exec gate keys on changes), skips files over the limit and its own writes', async () => {
    const { w, of } = start({ maxSize: 1024 * 1024 });
    const data = `${scratch.dir}/data`;
    const big = `${scratch.dir}/big`;
    const own = `${scratch.dir}/own`;
    assert.equal((await sh(`echo plain > ${data}`)).code, 0);
    await sleep(50);
    assert.equal(of(data).length, 0);
    assert.equal((await sh(`chmod +x ${data}`)).code, 0);
    assert.ok(await waitFor(() => of(data).length > 0), JSON.stringify(w.stats()));
    assert.ok(w.stats().attribEvents >= 1);
    assert.equal((await sh(`head -c 2000000 /dev/zero > ${big} && chmod +x ${big}`)).code, 0);
    writeFileSync(own, '#!/bin/sh\n', { mode: 0o755 });
    await waitFor(() => w.stats().tooLarge >= 1 && w.stats().selfIgnored >= 1);
    const s = w.stats();
    assert.ok(s.tooLarge >= 1, JSON.stringify(s));
    assert.ok(s.selfIgnored >= 1, JSON.stringify(s));
    assert.equal(of(big).length, 0);
    assert.equal(of(own).length, 0);
    assert.equal(s.droppedCandidates, 0);
    w.stop();
  });

  it('SIGKILL of a process holding the gate and the watch never leaves an exec blocked', async () => {
    // An exec waiting on the gate pins the current mark of every other list (here the watch's
    // filesystem mark for FAN_ATTRIB), and releasing a group waits for such pins: if the dying
    // process released the watch before the gate, it and the exec would wait on each other forever.
    // (If this regresses, the exec's SIGKILL at the timeout below unsticks both.)
    const bin = scratch.binary('held-with-watch');
    const script = fileURLToPath(new URL('./testing/gate-child.ts', import.meta.url));
    const child = spawn(process.execPath, [script, scratch.dir, 'watch'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    assert.ok(await waitFor(() => out.includes('ready'), 10000), 'gate child started');
    const run = sh(`exec ${bin}`, { timeoutMs: 8000 });
    assert.ok(await waitFor(() => out.includes('held'), 5000), 'exec is held by the child gate');
    await sleep(100);
    const t0 = performance.now();
    child.kill('SIGKILL');
    const r = await run;
    assert.equal(r.code, 0, 'the kernel allowed the pending exec when the group died');
    assert.ok(performance.now() - t0 < 5000, `exec completed ${(performance.now() - t0).toFixed(0)} ms after kill`);
    const exited = await new Promise<boolean>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(true);
      child.once('exit', () => resolve(true));
      setTimeout(() => resolve(false), 5000);
    });
    assert.ok(exited, 'the killed process finished exiting');
  });
});
