// Model management inside a real extension host: the ranked picker items, and a preset download through the
// progress notification from a real HTTP server on 127.0.0.1, verified and atomically placed.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as engineHttp from '../../../src/engine/httpEntry';
import { MODEL_CATALOG, type ModelPreset } from '../../../src/engine/models/catalog';
import { downloadPreset, pickerItems } from '../../../src/vscode/modelPicker';
import { resolveTestModel } from '../../support/testModel';

const log = vscode.window.createOutputChannel('Verdant e2e models', { log: true });

describe('model management in VS Code', function () {
  this.timeout(180_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-models-e2e-'));
  });

  it('lists completion models first, ranked with a reason, and a GGUF file chooser', () => {
    const first = MODEL_CATALOG.find((p) => p.role === 'completion')!;
    writeFileSync(path.join(dir, first.fileName), '');
    const items = pickerItems(dir, path.join(dir, first.fileName), { totalMemoryBytes: 32e9, freeMemoryBytes: 24e9, vramBytes: null });
    const labels = items.map((i) => i.label);
    assert.match(labels[0]!, /Code completion models/);
    assert.ok(
      items.filter((i) => i.detail).every((i) => /fits|does not fit/.test(i.detail!)),
      'each preset says whether it fits',
    );
    assert.ok(
      labels.some((l) => l.startsWith('$(check)')),
      'the current model is marked',
    );
    assert.match(labels[labels.length - 1]!, /Choose a GGUF File/);
  });

  it('lists instruct models first for the planner, says what each is good for, and offers no planner at all', () => {
    const items = pickerItems(dir, '', { totalMemoryBytes: 32e9, freeMemoryBytes: 24e9, vramBytes: null }, 'planner');
    const labels = items.map((i) => i.label);
    assert.match(labels[0]!, /Instruct models/);
    const instruct = MODEL_CATALOG.filter((p) => p.role === 'chat');
    assert.deepEqual(
      labels
        .slice(1, 1 + instruct.length)
        .map((l) => l.replace(/^\$\([\w-]+\) /, ''))
        .sort(),
      instruct.map((p) => p.name).sort(),
    );
    assert.ok(items.some((i) => i.detail?.startsWith('refactor plans and explanations that hold together')));
    assert.match(labels[labels.length - 1]!, /No Planner Model/);
  });

  it('downloads a preset with progress, verifies it and puts it in place', async () => {
    const bytes = readFileSync(await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() }));
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream' });
      res.end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const preset: ModelPreset = {
        ...MODEL_CATALOG[0]!,
        id: 'e2e',
        name: 'E2E test model',
        fileName: 'e2e-model.gguf',
        sizeBytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.gguf`,
      };
      const file = await downloadPreset(preset, { modelsDir: dir, log, engineHttp: () => engineHttp });
      assert.equal(file, path.join(dir, 'e2e-model.gguf'));
      assert.deepEqual(readFileSync(file!), bytes);
      assert.deepEqual(readdirSync(dir), ['e2e-model.gguf'], 'no partial file left behind');
      assert.equal(requests, 1);
      // A corrupted copy is refused and nothing is left in place.
      const bad = { ...preset, fileName: 'bad.gguf', sha256: '0'.repeat(64) };
      assert.equal(await downloadPreset(bad, { modelsDir: dir, log, engineHttp: () => engineHttp }), undefined);
      assert.equal(existsSync(path.join(dir, 'bad.gguf')), false);
      assert.equal(existsSync(path.join(dir, 'bad.gguf.part')), false);
    } finally {
      server.close();
    }
  });
});
