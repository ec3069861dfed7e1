// `npm run bench -- intel [--count 1000000] [--seconds 10] [--batch 1000] [--concurrency 4]`
// Hash lookups per second against the intel service over HTTP, on SQLite with COUNT sha256
// indicators preloaded through the bulk path. The service runs as its own process (as deployed);
// this process is the client. Baseline: the same lookups in-process (no HTTP), so the ratio shows
// what HTTP + JSON cost. Target: >= 100,000 lookups/s. The last line is JSON.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measurePropagation } from './intel-propagation.ts';
import { cpuTicks } from './proc-stats.ts';
import { addKey, createKnownSet, createOrg, ensureSource, lookup, openIntelDatabase, seedIndicators, type Observation } from '@yamori/intel';

const { values: opt } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    agents: { type: 'string', default: '1000' },
  },
});
const COUNT = Number(opt.count);
const SECONDS = Number(opt.seconds);
const BATCH = Number(opt.batch);
const CONCURRENCY = Number(opt.concurrency);
const TARGET = 100_000;

const dir = mkdtempSync(join(tmpdir(), 'yamori-bench-intel-'));
const dbUrl = `sqlite:${join(dir, 'intel.db')}`;
const hashOf = (i: number) => createHash('sha256').update(`bench-${i}`).digest('hex');

try {
  // 1. Bulk load.
  const database = await openIntelDatabase(dbUrl);
  const t0 = performance.now();
  const now = Date.now();
  await ensureSource(database.db, 'bench-feed', now);
  // One sorted pass (what a bulk loader of a big list does): in-order index inserts, one transaction.
  const all: Observation[] = [];
  for (let i = 0; i < COUNT; i++) {
    all.push({ type: 'sha256', value: hashOf(i), verdict: 'malicious', confidence: 90, tlp: 'green', firstSeen: now, lastSeen: now, expiresAt: null });
  }
  await database.db.transaction().execute((trx) => seedIndicators(trx, 'bench-feed', all, 0.5, now));
  all.length = 0;
  const loadS = (performance.now() - t0) / 1000;
  console.log(`loaded ${COUNT.toLocaleString('en')} sha256 indicators in ${loadS.toFixed(1)} s (${Math.round(COUNT / loadS).toLocaleString('en')}/s, bulk path, one change-feed entry each)`);

  const org = (await createOrg(database.db, 'bench', now))!;
  const { key } = await addKey(database.db, { scope: 'org', orgId: org.id }, now);

  // Request bodies: half known hashes, half unknown ones, prepared up front so the client stays light.
  const bodies: string[] = [];
  for (let b = 0; b < 32; b++) {
    const items = [];
    for (let i = 0; i < BATCH; i++) {
      const value = i % 2 === 0 ? hashOf(Math.floor(Math.random() * COUNT)) : randomBytes(32).toString('hex');
      items.push({ type: 'sha256', value });
    }
    bodies.push(JSON.stringify({ items }));
  }

  // 2. Baseline: the same lookups in-process (same known-value filter), no HTTP.
  const known = createKnownSet(database.db);
  await known.current();
  let inproc = 0;
  const tb = performance.now();
  while (performance.now() - tb < 3000) {
    const req = JSON.parse(bodies[inproc % bodies.length]!) as Parameters<typeof lookup>[1];
    await lookup(database.db, req, Date.now(), await known.current());
    inproc++;
  }
  const inprocRate = (inproc * BATCH) / ((performance.now() - tb) / 1000);
  await database.close();

  // 3. The service in its own process.
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'apps', 'intel', 'src', 'main.ts')], {
    env: { ...process.env, YAMORI_INTEL_DATA: dir, YAMORI_INTEL_DATABASE: dbUrl, YAMORI_INTEL_PORT: '0', YAMORI_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`intel service exited with ${code}`)));
  });
  child.stdout.resume();

  try {
    const post = async (body: string) => {
      const res = await fetch(`${url}/api/intel/v1/lookup`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
      if (!res.ok) throw new Error(`lookup: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { results: { verdict: string }[] };
    };
    // Warm-up, and a correctness check: the known half is malicious, the unknown half is not.
    const check = await post(bodies[0]!);
    const hits = check.results.filter((r) => r.verdict === 'malicious').length;
    if (hits !== BATCH / 2) throw new Error(`expected ${BATCH / 2} hits in a batch, got ${hits}`);
    for (let i = 0; i < 5; i++) await post(bodies[i % bodies.length]!);

    // CPU seconds the service process used (utime + stime from /proc), to tell its cost apart from the client's.
    const cpuOf = (pid: number) => cpuTicks(pid) / 100;
    const serverCpu0 = cpuOf(child.pid!);
    const clientCpu0 = process.cpuUsage();
    let requests = 0;
    const latencies: number[] = [];
    const start = performance.now();
    const deadline = start + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        let n = w;
        while (performance.now() < deadline) {
          const t = performance.now();
          await post(bodies[n++ % bodies.length]!);
          latencies.push(performance.now() - t);
          requests++;
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const serverCpu = cpuOf(child.pid!) - serverCpu0;
    const c = process.cpuUsage(clientCpu0);
    const clientCpu = (c.user + c.system) / 1e6;
    const rate = (requests * BATCH) / elapsed;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
    console.log(`HTTP lookups: ${requests} requests x ${BATCH} hashes (50% hits) in ${elapsed.toFixed(1)} s, ${CONCURRENCY} concurrent`);
    console.log(`  ${Math.round(rate).toLocaleString('en')} lookups/s; request latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
    console.log(
      `  CPU: service ${serverCpu.toFixed(1)} s, client ${clientCpu.toFixed(1)} s on a shared machine (load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}); ` +
        `service capacity per core ${Math.round((requests * BATCH) / serverCpu).toLocaleString('en')} lookups/CPU-s`,
    );
    console.log(`  baseline in-process (no HTTP): ${Math.round(inprocRate).toLocaleString('en')} lookups/s; HTTP/in-process ratio ${(rate / inprocRate).toFixed(2)}`);
    console.log(`  target ${TARGET.toLocaleString('en')}/s: ratio ${(rate / TARGET).toFixed(2)} ${rate >= TARGET ? '(met)' : '(NOT met)'}`);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const agents = Number(opt.agents);
    console.log(`propagation: a verdict imported into intelligence → 2 server instances on PostgreSQL → ${agents} long-polling agents …`);
    const prop = await measurePropagation(agents);
    console.log(`  reached ${prop.agents} agents: p50 ${prop.p50} ms, p99 ${prop.p99} ms, max ${prop.max} ms (target p99 <= 2000 ms)`);
    console.log(JSON.stringify({ lookups_per_s: Math.round(rate), propagation_p99_ms: prop.p99, agents: prop.agents }));
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
