import type { Policy } from '@yamori/protocol';

/** Rules the schema cannot state. Returns every problem, so an operator fixes a policy in one go. */
export function policyProblems(p: Policy, now: number): string[] {
  const out: string[] = [];
  const ids = new Set<string>();
  p.exclusions.forEach((e, i) => {
    const where = `exclusions[${i}] (${e.id})`;
    if (ids.has(e.id)) out.push(`${where}: duplicate id`);
    ids.add(e.id);
    if (e.kind === 'sha256' && !/^[a-f0-9]{64}$/.test(e.value)) out.push(`${where}: value must be a lower-case hex sha256`);
    if (e.kind === 'path' && !e.value.startsWith('/')) out.push(`${where}: path must be absolute (start with /)`);
    if (e.kind === 'parent_child' && !e.parent) out.push(`${where}: parent_child needs "parent" (the parent program's path pattern)`);
    if (e.kind !== 'parent_child' && e.parent) out.push(`${where}: "parent" only applies to parent_child exclusions`);
    if (e.expiresAt && Date.parse(e.expiresAt) <= now) out.push(`${where}: expiresAt is in the past`);
    if (e.kind === 'path' && /^\/(\*\*)?$/.test(e.value)) out.push(`${where}: excluding the whole file system turns protection off`);
  });
  const hashes = new Set<string>();
  p.blocklist.forEach((b, i) => {
    if (hashes.has(b.sha256)) out.push(`blocklist[${i}]: duplicate sha256 ${b.sha256}`);
    hashes.add(b.sha256);
  });
  p.scheduledScan?.paths.forEach((path, i) => {
    if (!path.startsWith('/')) out.push(`scheduledScan.paths[${i}]: path must be absolute (start with /)`);
  });
  return out;
}
