import type { FileKind, Policy } from '@yamori/protocol';
import { matchGlob } from './exclusion-match.ts';

export interface UploadRequest {
  kind: FileKind;
  sizeBytes: number;
  path: string;
}

/**
 * Whether a file may leave the premises under the policy's upload rules. The agent applies the
 * same rules; the server applies them again, because the server is where the tenant's word is kept.
 */
export function uploadDecision(policy: Policy['upload'], f: UploadRequest): { allowed: true } | { allowed: false; reason: string } {
  if (!policy.enabled) return { allowed: false, reason: 'uploads are turned off in this policy' };
  if (!policy.consent) return { allowed: false, reason: 'the tenant has not consented to samples leaving the premises' };
  if (policy.hashOnly) return { allowed: false, reason: 'this policy shares hashes only' };
  if (!policy.fileKinds.includes(f.kind)) return { allowed: false, reason: `file type "${f.kind}" may not be uploaded (allowed: ${policy.fileKinds.join(', ') || 'none'})` };
  if (f.sizeBytes > policy.maxSizeMb * 1024 * 1024) return { allowed: false, reason: `file is larger than the policy's ${policy.maxSizeMb} MB` };
  const never = policy.neverPaths.find((g) => matchGlob(g, f.path));
  if (never) return { allowed: false, reason: `path matches the never-upload pattern ${never}` };
  return { allowed: true };
}
