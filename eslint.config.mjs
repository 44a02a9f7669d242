// Lint: typescript-eslint's recommended rules, plus the layering rule from docs/ARCHITECTURE.md:
// core/, engine/ and cli/ are plain Node and never import 'vscode' (they run in the CLI, the engine worker and
// unit tests, where there is no VS Code).
import tseslint from 'typescript-eslint';

const noVscode = {
  'no-restricted-imports': ['error', {
    paths: [{ name: 'vscode', message: 'src/core, src/engine and src/cli must stay free of VS Code: pass what you need in from src/vscode.' }],
  }],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'build/', '.vscode-test/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'eqeqeq': ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
    },
  },
  { files: ['src/core/**', 'src/engine/**', 'src/cli/**', 'test/unit/**'], rules: noVscode },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', performance: 'readonly', Buffer: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
