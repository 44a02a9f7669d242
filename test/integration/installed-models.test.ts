// The model manager's files (#21): what is listed with its size and roles, import of a checked GGUF file, and delete
// only from Verdant's models folder. Real files in a temporary folder, the real test model and its corrupt copies.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError } from '../../src/engine/errors';
import { deleteModel, importModel, installedModels } from '../../src/engine/models/installed';
import { testModels, type TestModels } from '../support/models';

describe('installed models: list, import, delete', function () {
  this.timeout(60000);
  let models: TestModels;
  let dir: string;

  before(async () => {
    models = await testModels();
  });
  beforeEach(() => {
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'verdant-installed-')), 'models');
  });

  it('imports a GGUF file into the models folder and lists it with its size and the roles that use it', async () => {
    const imported = await importModel(models.base, dir);
    assert.equal(imported, path.join(dir, 'stories260K.gguf'));
    assert.deepEqual(readFileSync(imported), readFileSync(models.base));
    writeFileSync(path.join(dir, 'qwen.gguf.part'), 'a partial download');
    const list = await installedModels(dir, { completion: models.fim, planner: imported });
    assert.deepEqual(
      list.map((m) => [path.basename(m.path), m.managed, m.roles]).sort(),
      [
        ['stories260K-fim.gguf', false, ['completion']],
        ['stories260K.gguf', true, ['planner']],
      ],
      "the folder's model and a role's file elsewhere; not the partial download",
    );
    assert.ok(list[0]!.bytes >= list[1]!.bytes, 'largest first');
    assert.equal(list.find((m) => m.managed)?.bytes, statSync(models.base).size);
  });

  it('refuses to import a file that is not a valid GGUF model, copying nothing', async () => {
    await assert.rejects(importModel(models.corrupt.html, dir), (e: unknown) => e instanceof EngineError && e.code === 'model-invalid');
    assert.deepEqual(await installedModels(dir, { completion: '', planner: '' }), []);
  });

  it('never overwrites a model of the same name', async () => {
    await importModel(models.base, dir);
    const other = path.join(mkdtempSync(path.join(os.tmpdir(), 'verdant-other-')), 'stories260K.gguf');
    writeFileSync(other, readFileSync(models.fim));
    await assert.rejects(importModel(other, dir), /already in Verdant's models folder; rename the file/);
    assert.deepEqual(readFileSync(path.join(dir, 'stories260K.gguf')), readFileSync(models.base));
  });

  it('deletes from the models folder only', async () => {
    const imported = await importModel(models.base, dir);
    await assert.rejects(deleteModel(models.fim, dir), /is not in Verdant's models folder/);
    assert.ok(existsSync(models.fim));
    await assert.rejects(deleteModel(path.join(dir, '..', 'models', '..', 'x.gguf'), dir), /is not in Verdant's models folder/);
    await deleteModel(imported, dir);
    assert.equal(existsSync(imported), false);
  });
});
