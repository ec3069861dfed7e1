import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/build/**', '**/dist/**', 'apps/console/**', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      // `res.json() as T` reads better in tests than `res.json<T>()`; the rule adds nothing there.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@yamori/*/src/*'], message: 'Import a package through its public entry (src/index.ts).' },
            { group: ['**/apps/*/src/**', '../../*/src/**'], message: 'No app imports another app.' },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/protocol/**/*.ts', 'packages/detection/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['node:http', 'node:https', 'node:net', 'pg', 'kysely', 'fastify'].map((name) => ({
            name,
            message: 'protocol and detection are pure: no network or database I/O.',
          })),
        },
      ],
    },
  },
  {
    files: ['apps/!(cli)/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@yamori/server', '@yamori/agent', '@yamori/intel', '@yamori/sandbox', '@yamori/cli'], message: 'No app imports another app: talk over HTTP.' },
            { group: ['@yamori/*/src/*'], message: 'Import a package through its public entry (src/index.ts).' },
          ],
        },
      ],
    },
  },
  {
    // Benchmarks drive the real apps the way a user or load generator does.
    files: ['bench/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
