import * as assert from 'node:assert/strict';
import { extractCodeBlock, taskMessages } from '../../src/core/tasks/table';

describe('task prompts', () => {
  it('puts the code in a fenced block with the file and the instruction', () => {
    const m = taskMessages('refactor', { languageId: 'ts', filePath: 'src/a.ts', code: 'let x = 1', instruction: 'use const' });
    assert.equal(m[0]!.role, 'system');
    assert.match(m[1]!.content, /Refactor this code from src\/a\.ts: use const\.\n\n```ts\nlet x = 1\n```/);
  });

  it('extracts the replacement code from an answer', () => {
    assert.equal(extractCodeBlock('Here:\n```ts\nconst x = 1;\n```\nDone.'), 'const x = 1;');
    assert.equal(extractCodeBlock('```\na\n```\n```python\nlonger\nblock\n```'), 'longer\nblock');
    assert.equal(extractCodeBlock('no code here'), undefined);
  });
});
