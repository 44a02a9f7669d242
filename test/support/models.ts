// The models every engine test uses: the real stories260K.gguf and its FIM variant (made once per test process by
// our own GGUF rewriter), plus corrupt copies for the bad-input tests.
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { writeCorruptModels, type CorruptModels } from './corruptModels';
import { makeFimVariant } from './ggufRewrite';
import { resolveTestModel } from './testModel';

export interface TestModels {
  readonly base: string;
  readonly fim: string;
  readonly corrupt: CorruptModels;
  readonly dir: string;
}

let prepared: Promise<TestModels> | undefined;

export function testModels(): Promise<TestModels> {
  prepared ??= (async () => {
    const base = await resolveTestModel();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-models-'));
    const fim = path.join(dir, 'stories260K-fim.gguf');
    await makeFimVariant(base, fim);
    const corrupt = await writeCorruptModels(base, dir);
    return { base, fim, corrupt, dir };
  })();
  return prepared;
}
