// The build and the layering rules, checked on the real outputs and the real linter.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ESLint } from 'eslint';

describe('build outputs', () => {
  it('keeps native and ESM-only packages out of the extension bundle', () => {
    const ext = readFileSync('dist/extension.js', 'utf8');
    assert.ok(!/node-llama-cpp|onnxruntime/.test(ext), 'the extension bundle neither contains nor requires the engines');
    assert.match(ext, /require\("vscode"\)/);
  });

  it('keeps the HTTP stack (undici: server backends, downloader, cloud client) in the lazily loaded bundle', () => {
    assert.ok(!/undici/.test(readFileSync('dist/extension.js', 'utf8')), 'extension.js must not bundle undici: activation would parse it');
    assert.match(readFileSync('dist/engine-http.js', 'utf8'), /undici/);
  });
});

describe('layering lint rule', function () {
  this.timeout(60000);
  // The example files are not on disk, so not in the TypeScript project: lint them without type information (and
  // so without the type-aware promise rules), which the layering rules do not need.
  const eslint = new ESLint({
    overrideConfig: {
      languageOptions: { parserOptions: { projectService: false } },
      rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off' },
    },
  });
  const importVscode = "import * as vscode from 'vscode';\nexport const v = vscode.version;\n";

  for (const file of ['src/core/example.ts', 'src/engine/example.ts', 'src/cli/example.ts']) {
    it(`forbids importing vscode in ${file}`, async () => {
      const [result] = await eslint.lintText(importVscode, { filePath: file });
      assert.ok(result);
      assert.ok(
        result.messages.some((m) => m.ruleId === 'no-restricted-imports'),
        JSON.stringify(result.messages),
      );
    });
  }

  it('allows it in the adapters', async () => {
    const [result] = await eslint.lintText(importVscode, { filePath: 'src/vscode/example.ts' });
    assert.ok(result);
    assert.deepEqual(
      result.messages.filter((m) => m.fatal || m.ruleId === 'no-restricted-imports'),
      [],
      'linted, and allowed',
    );
  });
});

describe('type-aware lint', () => {
  it('checks promises with type information in src and test, not in the scripts outside the TypeScript project', async () => {
    const project = new ESLint();
    for (const file of ['src/extension.ts', 'test/unit/ledger.test.ts']) {
      const config = (await project.calculateConfigForFile(file)) as {
        rules: Record<string, unknown>;
        languageOptions: { parserOptions: { projectService?: unknown } };
      };
      assert.equal(config.languageOptions.parserOptions.projectService, true, file);
      for (const rule of ['@typescript-eslint/no-floating-promises', '@typescript-eslint/no-misused-promises']) {
        assert.equal((config.rules[rule] as unknown[] | undefined)?.[0], 2, `${rule} is an error in ${file}`);
      }
    }
    const script = (await project.calculateConfigForFile('scripts/setup.mjs')) as { rules: Record<string, unknown> };
    assert.equal(script.rules['@typescript-eslint/no-floating-promises'], undefined);
  });
});
