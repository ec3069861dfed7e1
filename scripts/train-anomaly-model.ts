// Trains the ELF anomaly model (robust z-scores over analyzeElf features) on benign binaries:
// this machine's /usr (the training half of a fixed split) plus Debian packages of several
// architectures fetched with `apt-get download` into a private apt state (the system's apt lists
// and caches are not touched; nothing downloaded is committed). Writes versioned JSON to
// packages/detection/models/.
//
//   node scripts/train-anomaly-model.ts [--out packages/detection/models/elf-benign.json] [--no-debian]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  analyzeElf,
  ELF_FEATURE_NAMES,
  openFileReader,
  robustDistance,
  type ElfFeatures,
  type FeatureTransform,
  type RobustZscoreModel,
} from '@yamori/detection';

export const USR_DIRS = ['/usr/bin', '/usr/sbin', '/usr/lib/x86_64-linux-gnu', '/usr/libexec'];
/** Debian packages whose binaries are used for training, per architecture. */
export const TRAIN_PACKAGES = ['coreutils', 'grep', 'sed', 'tar', 'gzip', 'openssh-client', 'curl', 'libssl3', 'busybox-static', 'zstd', 'libstdc++6', 'util-linux'];
/** Debian packages never used for training: the held-out set of eval-anomaly-model.ts. */
export const HELDOUT_PACKAGES = ['strace', 'tmux', 'htop', 'lsof', 'rsync', 'socat', 'jq', 'sqlite3', 'nmap', 'gdb-minimal'];
export const ARCHES = ['arm64', 'i386'];
const APT_ROOT = '/tmp/yamori-anomaly-apt';

/** Features that are counts or sizes get log1p; ratios and entropies stay as they are. */
const TRANSFORMS: Record<string, FeatureTransform> = {
  sectionCount: 'log1p',
  segmentCount: 'log1p',
  loadSegmentCount: 'log1p',
  importCount: 'log1p',
  neededCount: 'log1p',
  suspiciousStringCount: 'log1p',
};
/** Smallest scale per feature: 0/1 flags and near-constant features must not explode the z-score. */
const MIN_SCALE = 0.25;
/** Benign quantile placed at score 0.5: anomaly adds weight only for the rarest 0.5 % of benign files. */
const CALIBRATION_QUANTILE = 0.995;

/** Fixed split of this machine's files: one in five (by path hash) is held out from training. */
export function isHeldOut(path: string): boolean {
  return createHash('sha256').update(path).digest()[0]! % 5 === 0;
}

export function listElf(dirs: string[], depth = 2): string[] {
  const out: string[] = [];
  const walk = (d: string, left: number): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory() && left > 0) walk(p, left - 1);
      else if (e.isFile() && lstatSync(p).size >= 64) {
        const r = openFileReader(p);
        const m = r.read(0, 4);
        r.close();
        if (m[0] === 0x7f && m[1] === 0x45 && m[2] === 0x4c && m[3] === 0x46) out.push(p);
      }
    }
  };
  for (const d of dirs) walk(d, depth);
  return out;
}

export function features(path: string): ElfFeatures | undefined {
  const r = openFileReader(path);
  try {
    const a = analyzeElf(r, { mode: r.mode });
    return a.parsed ? a.features : undefined;
  } finally {
    r.close();
  }
}

/** Downloads packages (name:arch) with a private apt state and unpacks each into its own dir. */
export function fetchDebian(packages: string[], arches: string[], tag: string): string[] {
  const lists = join(APT_ROOT, 'lists');
  const cache = join(APT_ROOT, 'cache');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  mkdirSync(join(cache, 'archives', 'partial'), { recursive: true });
  const opts = ['-o', `Dir::State::Lists=${lists}`, '-o', `Dir::Cache=${cache}`, '-o', 'APT::Architectures::=amd64', ...arches.flatMap((a) => ['-o', `APT::Architectures::=${a}`]), '-o', 'Debug::NoLocking=1', '-qq'];
  if (readdirSync(lists).filter((f) => f.endsWith('_Packages.lz4')).length < 3) {
    // A partly failed update (a mirror mid-sync) still leaves usable lists: carry on with them.
    const r = spawnSync('apt-get', [...opts, 'update'], { stdio: 'inherit' });
    if (r.status !== 0) console.error('apt-get update reported errors; using the lists it got');
  }
  const debs = join(APT_ROOT, tag);
  mkdirSync(debs, { recursive: true });
  const dirs: string[] = [];
  for (const arch of arches) {
    for (const pkg of packages) {
      const dest = join(debs, `${pkg}_${arch}`);
      if (!existsSync(dest)) {
        try {
          execFileSync('apt-get', [...opts, 'download', `${pkg}:${arch}`], { cwd: debs, stdio: 'pipe' });
          const deb = readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(`_${arch}.deb`));
          if (!deb) continue;
          mkdirSync(dest);
          execFileSync('dpkg-deb', ['-x', join(debs, deb), dest]);
        } catch (err) {
          console.error(`skip ${pkg}:${arch}: ${String(err).split('\n')[0]}`);
          continue;
        }
      }
      dirs.push(dest);
    }
  }
  return dirs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export function train(samples: ElfFeatures[], training: Record<string, unknown>): RobustZscoreModel {
  const feats = ELF_FEATURE_NAMES.map((name) => {
    const transform = TRANSFORMS[name] ?? 'identity';
    const xs = samples.map((s) => (transform === 'log1p' ? Math.log1p(Math.max(0, s[name])) : s[name]));
    const med = median(xs);
    const mad = median(xs.map((x) => Math.abs(x - med)));
    return { name, transform, median: round(med), scale: round(Math.max(MIN_SCALE, 1.4826 * mad)) };
  });
  const model: RobustZscoreModel = {
    format: 'yamori-anomaly',
    version: 1,
    name: 'elf-benign',
    created: new Date().toISOString().slice(0, 10),
    kind: 'robust-zscore',
    features: feats,
    calibration: { d50: 1 },
    training: { ...training, samples: samples.length, calibrationQuantile: CALIBRATION_QUANTILE },
  };
  model.calibration.d50 = round(quantile(samples.map((s) => robustDistance(s, model)), CALIBRATION_QUANTILE));
  return model;
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;

if (import.meta.main) {
  const args = process.argv.slice(2);
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'packages/detection/models/elf-benign.json';
  const usr = listElf(USR_DIRS).filter((p) => !isHeldOut(p));
  const debianDirs = args.includes('--no-debian') ? [] : fetchDebian(TRAIN_PACKAGES, ARCHES, 'train');
  const deb = listElf(debianDirs, 6);
  const samples: ElfFeatures[] = [];
  for (const p of [...usr, ...deb]) {
    const f = features(p);
    if (f) samples.push(f);
  }
  const model = train(samples, {
    sources: { usrFiles: usr.length, debianFiles: deb.length, debianPackages: TRAIN_PACKAGES, debianArches: ARCHES, usrDirs: USR_DIRS },
  });
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(model, null, 2)}\n`);
  console.log(`trained on ${samples.length} ELF files (${usr.length} from /usr, ${deb.length} from Debian ${ARCHES.join('/')} packages) → ${out}, d50 ${model.calibration.d50}`);
}
