// Anomaly model over ELF features: how far a file is from the benign programs the model was
// trained on, as a 0–1 score. The model is versioned JSON (packages/detection/models/) so it can be
// rolled out by ring like other detection content; `kind` leaves room for a supervised model.
//
//   robust-zscore: per feature z = |t(x) − median| / scale (scale = 1.4826·MAD, floored), the
//     distance is the root mean square of the z's (each clipped at Z_CLIP), and
//     score = 1 − 2^(−distance / d50), so score = 0.5 exactly at the calibration distance d50
//     (chosen at training as a high quantile of benign distances).
//   logistic: sigmoid(bias + Σ wᵢ·(t(xᵢ) − meanᵢ)/stdᵢ), for a supervised model trained later.

export type FeatureTransform = 'identity' | 'log1p';

export interface RobustFeature {
  name: string;
  transform: FeatureTransform;
  median: number;
  scale: number;
}

export interface LogisticFeature {
  name: string;
  transform: FeatureTransform;
  mean: number;
  std: number;
  weight: number;
}

interface ModelBase {
  format: 'yamori-anomaly';
  /** Format version; inference refuses versions it does not know. */
  version: 1;
  /** Model identity, shown with the verdict (`elf-benign@2026-11-22`). */
  name: string;
  created: string;
  /** What the model was trained on, for audits. */
  training?: Record<string, unknown>;
}

export interface RobustZscoreModel extends ModelBase {
  kind: 'robust-zscore';
  features: RobustFeature[];
  calibration: { d50: number };
}

export interface LogisticModel extends ModelBase {
  kind: 'logistic';
  features: LogisticFeature[];
  bias: number;
}

export type AnomalyModel = RobustZscoreModel | LogisticModel;

/** A z-score above this counts as this much (one absurd feature must not dominate). */
export const Z_CLIP = 8;

const transform = (t: FeatureTransform, x: number): number => (t === 'log1p' ? Math.log1p(Math.max(0, x)) : x);

/** Score in [0, 1] of the features (missing features count as 0). */
export function anomalyScore(features: Readonly<Record<string, number>>, model: AnomalyModel): number {
  if (model.kind === 'robust-zscore') {
    const d = robustDistance(features, model);
    return 1 - 2 ** (-d / Math.max(1e-9, model.calibration.d50));
  }
  let s = model.bias;
  for (const f of model.features) s += (f.weight * (transform(f.transform, features[f.name] ?? 0) - f.mean)) / (f.std || 1);
  return 1 / (1 + Math.exp(-s));
}

/** The RMS of clipped robust z-scores (used at training for calibration). */
export function robustDistance(features: Readonly<Record<string, number>>, model: RobustZscoreModel): number {
  if (model.features.length === 0) return 0;
  let sum = 0;
  for (const f of model.features) {
    const x = transform(f.transform, features[f.name] ?? 0);
    const z = Math.min(Z_CLIP, Math.abs(x - f.median) / f.scale);
    sum += z * z;
  }
  return Math.sqrt(sum / model.features.length);
}

/** The benign-ELF model shipped with this package (models/elf-benign.json), for parseAnomalyModel. */
export const DEFAULT_ANOMALY_MODEL_URL: URL = new URL('../../models/elf-benign.json', import.meta.url);

/** Validates parsed JSON as a model; throws an Error listing what is wrong. */
export function parseAnomalyModel(json: unknown): AnomalyModel {
  const problems: string[] = [];
  const o = (json ?? {}) as Record<string, unknown>;
  if (o['format'] !== 'yamori-anomaly') problems.push('format must be "yamori-anomaly"');
  if (o['version'] !== 1) problems.push(`unsupported version ${String(o['version'])}`);
  if (typeof o['name'] !== 'string') problems.push('name must be a string');
  const feats = Array.isArray(o['features']) ? (o['features'] as Record<string, unknown>[]) : (problems.push('features must be an array'), []);
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  feats.forEach((f, i) => {
    if (typeof f['name'] !== 'string') problems.push(`features[${i}].name`);
    if (f['transform'] !== 'identity' && f['transform'] !== 'log1p') problems.push(`features[${i}].transform`);
  });
  if (o['kind'] === 'robust-zscore') {
    feats.forEach((f, i) => {
      if (!num(f['median']) || !num(f['scale']) || !((f['scale'] as number) > 0)) problems.push(`features[${i}] needs median and scale > 0`);
    });
    const cal = o['calibration'] as Record<string, unknown> | undefined;
    if (!cal || !num(cal['d50']) || !((cal['d50'] as number) > 0)) problems.push('calibration.d50 must be > 0');
  } else if (o['kind'] === 'logistic') {
    feats.forEach((f, i) => {
      if (!num(f['mean']) || !num(f['std']) || !num(f['weight'])) problems.push(`features[${i}] needs mean, std, weight`);
    });
    if (!num(o['bias'])) problems.push('bias must be a number');
  } else {
    problems.push(`unknown kind ${String(o['kind'])}`);
  }
  if (problems.length > 0) throw new Error(`invalid anomaly model: ${problems.join('; ')}`);
  return json as AnomalyModel;
}
