// What an endpoint needs to run the agent, as rules over paths: which workspaces, which of their
// files, which files of their npm dependencies. Pure; agent-package.ts walks the tree with them.

/**
 * The workspaces the `yamori` command needs on an endpoint (agent, scan, quarantine, sigma).
 * The server, intelligence service and sandbox stay out: the CLI loads a command's module only
 * when it runs, so `yamori up` on an endpoint fails with a missing module instead.
 */
export const AGENT_WORKSPACES: readonly string[] = [
  'apps/cli',
  'apps/agent',
  'packages/protocol',
  'packages/detection',
  'packages/sensor-linux',
  'packages/yara-native',
];

const TEST_DIRS = new Set(['test', 'testing', 'test-support', 'tests', '__tests__', 'node_modules']);

/** Test code, fixtures and notes, anywhere in a workspace or a dependency. */
function isTestOrDoc(segments: readonly string[]): boolean {
  const base = segments.at(-1) ?? '';
  return (
    segments.some((s) => TEST_DIRS.has(s)) ||
    /\.test\.[cm]?[jt]s$/.test(base) ||
    /^(test-support|test-binaries)\.ts$/.test(base) ||
    /^e2e-.*\.ts$/.test(base) ||
    /\.(md|markdown|map|c|h|cc|gyp|gypi)$/i.test(base)
  );
}

/**
 * Whether a workspace file (path relative to the workspace directory) ships: its manifest, the
 * sources and data the code reads at run time (src/, bin/, detection's rules/ and models/), and
 * built native addons (build/Release/*.node, not the object files). No tests, no C sources, no
 * bundles in dist/.
 */
export function shipsWorkspaceFile(rel: string): boolean {
  const segments = rel.split('/');
  if (rel === 'package.json') return true;
  if (segments[0] === 'build') return segments.length === 3 && segments[1] === 'Release' && rel.endsWith('.node');
  if (!['src', 'bin', 'rules', 'models'].includes(segments[0] ?? '')) return false;
  return !isTestOrDoc(segments);
}

/**
 * Whether a file of an npm dependency (path relative to the package directory) ships: all but
 * type declarations, source maps, docs and tests. Licence and notice files stay, whatever their
 * extension.
 */
export function shipsDependencyFile(rel: string): boolean {
  const segments = rel.split('/');
  const base = segments.at(-1) ?? '';
  if (/^(licen[cs]e|notice|copying)/i.test(base)) return true;
  if (/\.d\.[cm]?ts$/.test(base) || segments[0] === '.github') return false;
  return !isTestOrDoc(segments);
}

/** The dependencies a manifest asks for at run time (not dev, not peers). */
export function runtimeDependencies(manifest: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }): {
  required: string[];
  optional: string[];
} {
  const optional = Object.keys(manifest.optionalDependencies ?? {});
  return { required: Object.keys(manifest.dependencies ?? {}).filter((d) => !optional.includes(d)), optional };
}

/**
 * Where Node looks for package `name` required from `fromDir` (both relative to the app root,
 * '' for the root itself): `fromDir/node_modules/name`, then each parent's, up to the root's.
 */
export function resolutionCandidates(fromDir: string, name: string): string[] {
  const out: string[] = [];
  let dir = fromDir;
  for (;;) {
    if (!dir.endsWith('/node_modules') && dir !== 'node_modules') out.push(dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`);
    if (dir === '') return out;
    const cut = dir.lastIndexOf('/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}
