// Evaluates the ELF anomaly model: false-positive rates on benign binaries it was not trained on
// (Debian packages held out from training, amd64 and arm64, and the held-out fifth of /usr), and
// on all of /usr. A false positive is a file whose anomaly score adds points (> ANOMALY_FLOOR);
// "suspicious" counts files whose full verdict (findings + anomaly) is suspicious or worse.
//
//   node scripts/eval-anomaly-model.ts [--model packages/detection/models/elf-benign.json] [--no-debian]
import { readFileSync } from 'node:fs';
import { ANOMALY_FLOOR, analyzeElf, anomalyScore, decideVerdict, openFileReader, parseAnomalyModel, type AnomalyModel } from '@yamori/detection';
import { fetchDebian, HELDOUT_PACKAGES, isHeldOut, listElf, USR_DIRS } from './train-anomaly-model.ts';

interface Rates {
  files: number;
  anomalous: number;
  suspicious: number;
  worst: string[];
}

function evaluate(paths: string[], model: AnomalyModel): Rates {
  const scored: [number, string][] = [];
  let anomalous = 0;
  let suspicious = 0;
  for (const p of paths) {
    const r = openFileReader(p);
    try {
      const a = analyzeElf(r, { mode: r.mode });
      if (!a.parsed) continue;
      const score = anomalyScore(a.features, model);
      scored.push([score, p]);
      if (score > ANOMALY_FLOOR) anomalous++;
      if (decideVerdict({ findings: a.findings, anomaly: { score, model: model.name } }).verdict !== 'unknown') suspicious++;
    } finally {
      r.close();
    }
  }
  const worst = scored.sort((a, b) => b[0] - a[0]).slice(0, 5).map(([s, p]) => `${s.toFixed(2)} ${p}`);
  return { files: scored.length, anomalous, suspicious, worst };
}

const pct = (n: number, d: number): string => `${((100 * n) / Math.max(1, d)).toFixed(2)} %`;

if (import.meta.main) {
  const args = process.argv.slice(2);
  const modelPath = args.includes('--model') ? args[args.indexOf('--model') + 1]! : 'packages/detection/models/elf-benign.json';
  const model = parseAnomalyModel(JSON.parse(readFileSync(modelPath, 'utf8')));
  const usrAll = listElf(USR_DIRS);
  const sets: [string, string[]][] = [
    ['/usr held-out fifth', usrAll.filter(isHeldOut)],
    ['/usr all', usrAll],
  ];
  if (!args.includes('--no-debian')) {
    for (const arch of ['amd64', 'arm64']) sets.unshift([`Debian held-out packages (${arch})`, listElf(fetchDebian(HELDOUT_PACKAGES, [arch], 'heldout'), 6)]);
  }
  console.log(`model ${model.name} v${model.version} (${model.kind}, created ${model.created})`);
  for (const [label, paths] of sets) {
    const r = evaluate(paths, model);
    console.log(`${label}: ${r.files} ELF files, anomaly > ${ANOMALY_FLOOR}: ${r.anomalous} (${pct(r.anomalous, r.files)}), verdict suspicious: ${r.suspicious} (${pct(r.suspicious, r.files)})`);
    for (const w of r.worst) console.log(`    ${w}`);
  }
}
