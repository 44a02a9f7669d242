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
  const eslint = new ESLint();
  const importVscode = "import * as vscode from 'vscode';\nexport const v = vscode.version;\n";

  for (const file of ['src/core/example.ts', 'src/engine/example.ts', 'src/cli/example.ts']) {
    it(`forbids importing vscode in ${file}`, async () => {
      const [result] = await eslint.lintText(importVscode, { filePath: file });
      assert.ok(result);
      assert.ok(result.messages.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(result.messages));
    });
  }

  it('allows it in the adapters', async () => {
    const [result] = await eslint.lintText(importVscode, { filePath: 'src/vscode/example.ts' });
    assert.ok(result);
    assert.deepEqual(result.messages.filter((m) => m.ruleId === 'no-restricted-imports'), []);
  });
});
