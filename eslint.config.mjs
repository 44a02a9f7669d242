// Lint: typescript-eslint's recommended rules, plus the layering rules from docs/ARCHITECTURE.md:
// core/, engine/ and cli/ are plain Node and never import 'vscode' (they run in the CLI, the engine worker and
// unit tests, where there is no VS Code); and core never imports engine (the engine imports core's leaves, never
// the reverse: the types and stream helpers both use live in src/core/inference and src/core/net).
import tseslint from 'typescript-eslint';

const vscodePath = { name: 'vscode', message: 'src/core, src/engine and src/cli must stay free of VS Code: pass what you need in from src/vscode.' };
const noVscode = { 'no-restricted-imports': ['error', { paths: [vscodePath] }] };

/** src/core: no VS Code, and no src/engine. */
const coreLayer = {
  'no-restricted-imports': [
    'error',
    {
      paths: [vscodePath],
      patterns: [
        {
          group: ['**/engine', '**/engine/**'],
          message: 'src/core must not import src/engine: move what both need into src/core (src/core/inference, src/core/net).',
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'build/', '.vscode-test/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
    },
  },
  // Type-aware rules, for the TypeScript that tsconfig.json covers (src/ and test/; bench/ and the .mjs scripts are not
  // in it): a promise nobody awaits, or one handed to something that ignores what it returns, loses its rejection.
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { checkThenables: true }],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  { files: ['src/engine/**', 'src/cli/**', 'test/unit/**'], rules: noVscode },
  { files: ['src/core/**'], rules: coreLayer },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        Buffer: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
