// The agent bundle: `yamori agent run` and everything it imports (about 900 modules, 683 of them
// typebox's) as one JavaScript file, built with esbuild into STATE/agent-bundle by `yamori agent
// install` and run by `yamori agent run --state STATE` (bin/agent-bundle.js; ADR 0012). One module instead of
// 900: no per-module records, no TypeScript stripper, less code, and the compile cache covers one
// file. The manifest beside it lists every input with its size and mtime; the loader runs the
// bundle only while all of them are unchanged, so an upgraded checkout never runs old code.
import { statSync, mkdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '@yamori/agent';

/** The bundle's folder in the state directory, and its two files (bin/agent-bundle.js reads the same names). */
export const AGENT_BUNDLE = { dir: 'agent-bundle', code: 'agent.mjs', manifest: 'manifest.json' } as const;

/** What bin/agent-bundle.js checks before it runs the bundle. */
export interface AgentBundleManifest {
  /** The entry it was built from (this checkout's src/agent-main.ts): another checkout's loader rebuilds. */
  entry: string;
  /** The node that built it (`process.version`): another node may run the sources it was built from differently. */
  node: string;
  /** Every source file in the bundle: absolute path, size in bytes, mtime in ms. */
  inputs: [path: string, size: number, mtimeMs: number][];
}

const SELF = fileURLToPath(import.meta.url);
const ENTRY = fileURLToPath(new URL('./agent-main.ts', import.meta.url));
const REPO = resolve(dirname(ENTRY), '../../..');

/**
 * Builds the bundle into `stateDir`/agent-bundle (root's, 0700): the code first, then the manifest,
 * each replaced atomically, so a loader sees either the old pair or the new one.
 */
export async function buildAgentBundle(stateDir: string): Promise<{ path: string; inputs: number; bytes: number }> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error('esbuild is not installed (a dependency of @yamori/cli: run npm ci); the agent runs from its sources');
  }
  const result = await esbuild.build({
    absWorkingDir: REPO,
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0] ?? '24'}`,
    // whitespace and syntax only: identifiers keep their names, so stack traces in the journal stay readable
    minifyWhitespace: true,
    minifySyntax: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // CommonJS dependencies (dbus-next) require node's built-in modules
    banner: { js: "import { createRequire as __yamoriCreateRequire } from 'node:module'; const require = __yamoriCreateRequire(import.meta.url);" },
    plugins: [sourceLocations],
    // the builder itself (this file) is in the bundle; esbuild is never loaded there
    external: ['esbuild'],
  });
  const code = result.outputFiles[0];
  if (!code) throw new Error('esbuild wrote no output');
  const inputs: AgentBundleManifest['inputs'] = Object.keys(result.metafile.inputs).map((p) => {
    const path = resolve(REPO, p);
    const st = statSync(path);
    return [path, st.size, st.mtimeMs];
  });
  const dir = join(stateDir, AGENT_BUNDLE.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // the old manifest goes first: a crash between the two writes leaves no manifest, never a new bundle under an old one
  rmSync(join(dir, AGENT_BUNDLE.manifest), { force: true });
  writeFileAtomic(join(dir, AGENT_BUNDLE.code), code.contents, 0o600);
  const manifest: AgentBundleManifest = { entry: ENTRY, node: process.version, inputs };
  writeFileAtomic(join(dir, AGENT_BUNDLE.manifest), `${JSON.stringify(manifest)}\n`, 0o600);
  return { path: join(dir, AGENT_BUNDLE.code), inputs: inputs.length, bytes: code.contents.length };
}

/**
 * Each source keeps its own location: `import.meta.url`, `.dirname` and `.filename` become the
 * source file's, so paths beside it (native addons, the anomaly model, Sigma rules, the notifier's
 * child) resolve as they do when the sources run. `import.meta.resolve` has no such rewrite: the
 * build fails on it rather than resolve from the bundle's folder.
 */
const sourceLocations: import('esbuild').Plugin = {
  name: 'yamori-source-locations',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async ({ path }) => {
      // this file, which names what it rewrites, is in the bundle too (never run there)
      if (path === SELF) return undefined;
      let text = await readFile(path, 'utf8');
      const loader = /\.[cm]?ts$/.test(path) ? 'ts' : 'js';
      if (!text.includes('import.meta')) return { contents: text, loader };
      if (/\bimport\.meta\.resolve\s*\(/.test(text)) {
        return { errors: [{ text: `import.meta.resolve in ${path}: it would resolve from the bundle's folder; resolve from import.meta.url instead` }] };
      }
      text = text
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(path)))
        .replaceAll('import.meta.filename', JSON.stringify(path));
      return { contents: text, loader };
    });
  },
};
