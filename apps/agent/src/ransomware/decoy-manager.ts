import { createHash, randomInt } from 'node:crypto';
import {
  chownSync,
  closeSync,
  constants,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { identifyFileType } from '@yamori/detection';
import { readJsonIfExists, writeFileAtomic } from '../atomic-file.ts';
import { DECOYS, decoyContent, type DecoySpec, type DecoyType } from './decoy-content.ts';

/**
 * The decoy files on disk: placed, checked, re-created and removed, with a manifest in the state
 * directory (`ransomware-decoys.json`) that lists them for the operator and remembers what we wrote,
 * so that we only ever rewrite or delete a file whose content is ours: a user file that happens to
 * carry a decoy name is left alone.
 *
 * Decoys stay when the agent stops or restarts. Removing them at every stop would churn files in
 * users' folders at every upgrade and reboot, and a restart would open a window in which the first
 * files of every folder are real ones; a stopped agent leaves inert files behind, not a hole. They
 * are removed when their folder leaves the policy, when the module is set to off, and by
 * `removeAllDecoys` (uninstall).
 */

export const MANIFEST = 'ransomware-decoys.json';

export interface DecoyRecord {
  path: string;
  folder: string;
  type: DecoyType;
  sha256: string;
  size: number;
  createdAt: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function loadManifest(stateDir: string): DecoyRecord[] {
  const v = readJsonIfExists(join(stateDir, MANIFEST)) as { decoys?: DecoyRecord[] } | undefined;
  return Array.isArray(v?.decoys) ? v.decoys.filter((d) => typeof d.path === 'string' && typeof d.sha256 === 'string') : [];
}

/** Is the file at `path` still exactly the decoy we wrote? */
export function intact(rec: DecoyRecord): boolean {
  try {
    const st = lstatSync(rec.path);
    if (!st.isFile() || st.size !== rec.size) return false;
    return sha256(readFileSync(rec.path)) === rec.sha256;
  } catch {
    return false;
  }
}

export interface PlaceResult {
  record?: DecoyRecord;
  /** Why nothing was placed (a foreign file holds the name, the folder is read-only …). */
  skipped?: string;
  /** The file was (re)written now. */
  written: boolean;
}

/**
 * Make sure `spec` exists in `folder` as one of our decoys: keep an intact one, rewrite a damaged one
 * of ours, create a missing one; owned like the folder, permissions of the folder without execute,
 * and a modification time months back (ransomware that encrypts recent files first meets them too).
 */
export function placeDecoy(folder: string, spec: DecoySpec, known: DecoyRecord | undefined, now: number): PlaceResult {
  const path = join(folder, spec.name);
  let exists = false;
  try {
    lstatSync(path);
    exists = true;
  } catch {
    // absent
  }
  if (exists && known && intact(known)) return { record: known, written: false };
  if (exists && !known) {
    const adopted = adopt(path, folder, spec, now);
    return adopted ? { record: adopted, written: false } : { skipped: `${path} exists and is not a Yamori decoy`, written: false };
  }
  if (exists && known) {
    const st = lstatSync(path);
    if (!st.isFile()) return { skipped: `${path} is no longer a regular file`, written: false };
  }
  let dir;
  try {
    dir = statSync(folder);
  } catch (err) {
    return { skipped: `${folder}: ${(err as Error).message}`, written: false };
  }
  const data = decoyContent(spec.type, randomInt(1, 0x7fffffff));
  const mode = dir.mode & 0o666;
  try {
    // O_NOFOLLOW: never write through a symlink someone put in our place
    const { O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
    const fd = openSync(path, exists ? O_RDWR | O_NOFOLLOW : O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    try {
      writeSync(fd, data, 0, data.length, 0);
      if (exists) ftruncateSync(fd, data.length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chownSync(path, dir.uid, dir.gid);
    const past = new Date(now - (90 + (data.length % 180)) * 86_400_000);
    utimesSync(path, past, past);
  } catch (err) {
    return { skipped: `${path}: ${(err as Error).message}`, written: false };
  }
  return {
    record: { path, folder, type: spec.type, sha256: sha256(data), size: data.length, createdAt: new Date(now).toISOString() },
    written: true,
  };
}

const FORMAT: Record<DecoyType, string> = { docx: 'ooxml-docx', xlsx: 'ooxml-xlsx', pdf: 'pdf', jpeg: 'jpeg', csv: 'text' };

/**
 * A file with a decoy's name that no manifest lists: a decoy left by an agent whose state directory
 * is gone (a reinstall without uninstall, a test run). The names are Yamori's (nobody else names a
 * file `.!!0_Contract_2026.docx`), so a small regular file of the format its name promises is taken
 * over as it is rather than left unguarded beside the new ones.
 */
function adopt(path: string, folder: string, spec: DecoySpec, now: number): DecoyRecord | undefined {
  try {
    const st = lstatSync(path);
    if (!st.isFile() || st.size === 0 || st.size > 256 * 1024) return undefined;
    const data = readFileSync(path);
    if (identifyFileType(data).format !== FORMAT[spec.type]) return undefined;
    return { path, folder, type: spec.type, sha256: sha256(data), size: data.length, createdAt: new Date(now).toISOString() };
  } catch {
    return undefined;
  }
}

/** Delete a decoy if it is still ours (never a file someone replaced it with). */
export function removeDecoy(rec: DecoyRecord): boolean {
  if (!intact(rec)) return false;
  try {
    unlinkSync(rec.path);
    return true;
  } catch {
    return false;
  }
}

export function saveManifest(stateDir: string, decoys: readonly DecoyRecord[], extra: Record<string, unknown> = {}): void {
  writeFileAtomic(join(stateDir, MANIFEST), `${JSON.stringify({ updatedAt: new Date().toISOString(), ...extra, decoys }, null, 2)}\n`, 0o600);
}

/** Uninstall: remove every decoy the manifest lists that is still ours. */
export function removeAllDecoys(stateDir: string): number {
  let n = 0;
  for (const rec of loadManifest(stateDir)) if (removeDecoy(rec)) n++;
  saveManifest(stateDir, []);
  return n;
}

export { DECOYS };
