// FIM templates per model family: exact prompts (single file and multi-file), stop lists, family detection.
import * as assert from 'node:assert/strict';
import { chunkBody, detectFamily, renderFim, type FimFamily, type FimInput } from '../../src/core/completion/templates';

const PLAIN: FimInput = { prefix: 'def f(a$&):\n    ', suffix: '\n$1' };
const REPO: FimInput = {
  prefix: 'import a\n',
  suffix: '\nmain()',
  filePath: 'src/main.py',
  repoName: 'verdant',
  extra: [
    { path: 'src/a.py', text: 'A = 1' },
    { path: 'src/b.py', text: 'B = 2\n' },
  ],
};

describe('FIM templates', () => {
  it('renders each family’s single-file prompt literally (no $ pattern substitution)', () => {
    const expected: Record<FimFamily, string> = {
      'qwen2.5-coder': '<|fim_prefix|>def f(a$&):\n    <|fim_suffix|>\n$1<|fim_middle|>',
      starcoder2: '<fim_prefix>def f(a$&):\n    <fim_suffix>\n$1<fim_middle>',
      starcoder: '<fim_prefix>def f(a$&):\n    <fim_suffix>\n$1<fim_middle>',
      codellama: '<PRE> def f(a$&):\n     <SUF>\n$1 <MID>',
      'deepseek-coder': '<\uff5cfim\u2581begin\uff5c>def f(a$&):\n    <\uff5cfim\u2581hole\uff5c>\n$1<\uff5cfim\u2581end\uff5c>',
      codestral: '[SUFFIX]\n$1[PREFIX]def f(a$&):\n    ',
      codegemma: '<|fim_prefix|>def f(a$&):\n    <|fim_suffix|>\n$1<|fim_middle|>',
    };
    for (const [family, prompt] of Object.entries(expected)) assert.equal(renderFim(family as FimFamily, PLAIN).prompt, prompt, family);
  });

  it('lays out other files in each family’s multi-file form', () => {
    const expected: Record<FimFamily, string> = {
      'qwen2.5-coder':
        '<|repo_name|>verdant\n<|file_sep|>src/a.py\nA = 1\n<|file_sep|>src/b.py\nB = 2\n<|file_sep|>src/main.py\n' +
        '<|fim_prefix|>import a\n<|fim_suffix|>\nmain()<|fim_middle|>',
      starcoder2:
        '<repo_name>verdant<file_sep>src/a.py\nA = 1<file_sep>src/b.py\nB = 2\n' +
        '<file_sep><fim_prefix>src/main.py\nimport a\n<fim_suffix>\nmain()<fim_middle>',
      // No multi-file form: the chunks are left out.
      starcoder: '<fim_prefix>import a\n<fim_suffix>\nmain()<fim_middle>',
      codellama: '<PRE> import a\n <SUF>\nmain() <MID>',
      'deepseek-coder':
        '<\uff5cfim\u2581begin\uff5c>#src/a.py\nA = 1\n#src/b.py\nB = 2\n#src/main.py\nimport a\n<\uff5cfim\u2581hole\uff5c>\nmain()<\uff5cfim\u2581end\uff5c>',
      codestral: '[SUFFIX]\nmain()[PREFIX]+++++ src/a.py\nA = 1\n\n+++++ src/b.py\nB = 2\n\n\n+++++ src/main.py\nimport a\n',
      codegemma:
        '<|file_separator|>src/a.py\nA = 1\n<|file_separator|>src/b.py\nB = 2\n<|file_separator|>src/main.py\n' +
        '<|fim_prefix|>import a\n<|fim_suffix|>\nmain()<|fim_middle|>',
    };
    for (const [family, prompt] of Object.entries(expected)) assert.equal(renderFim(family as FimFamily, REPO).prompt, prompt, family);
  });

  it('uses repository tokens for the file path alone, and names an unnamed file', () => {
    assert.equal(
      renderFim('qwen2.5-coder', { prefix: 'p', suffix: 's', filePath: 'x.ts' }).prompt,
      '<|file_sep|>x.ts\n<|fim_prefix|>p<|fim_suffix|>s<|fim_middle|>',
    );
    assert.equal(
      renderFim('qwen2.5-coder', { prefix: 'p', suffix: 's', extra: [{ path: 'a.ts', text: 'a' }] }).prompt,
      '<|file_sep|>a.ts\na\n<|file_sep|>untitled\n<|fim_prefix|>p<|fim_suffix|>s<|fim_middle|>',
    );
    assert.equal(
      renderFim('starcoder2', { prefix: 'p', suffix: 's', repoName: 'r' }).prompt,
      '<repo_name>r<file_sep><fim_prefix>untitled\np<fim_suffix>s<fim_middle>',
    );
    // Families without repository tokens change only for chunks.
    assert.equal(renderFim('codegemma', { prefix: 'p', suffix: 's', filePath: 'x.ts' }).prompt, '<|fim_prefix|>p<|fim_suffix|>s<|fim_middle|>');
    assert.equal(renderFim('qwen2.5-coder', { prefix: 'p', suffix: 's', extra: [] }).prompt, '<|fim_prefix|>p<|fim_suffix|>s<|fim_middle|>');
  });

  it('gives each family its end and separator tokens as stops', () => {
    const stops = (family: FimFamily) => renderFim(family, PLAIN).stop; // a fresh copy per call
    assert.deepEqual(renderFim('qwen2.5-coder', PLAIN).stop, [
      '<|endoftext|>',
      '<|fim_prefix|>',
      '<|fim_suffix|>',
      '<|fim_middle|>',
      '<|fim_pad|>',
      '<|repo_name|>',
      '<|file_sep|>',
      '<|im_start|>',
      '<|im_end|>',
    ]);
    assert.deepEqual(stops('codellama'), ['<EOT>', '<PRE>', '<SUF>', '<MID>', '</s>']);
    assert.deepEqual(stops('deepseek-coder'), [
      '<\uff5cend\u2581of\u2581sentence\uff5c>',
      '<|EOT|>',
      '<\uff5cfim\u2581begin\uff5c>',
      '<\uff5cfim\u2581hole\uff5c>',
      '<\uff5cfim\u2581end\uff5c>',
    ]);
    assert.deepEqual(stops('codestral'), ['</s>', '[PREFIX]', '[SUFFIX]', '[MIDDLE]']);
    assert.ok(stops('codegemma').includes('<|file_separator|>'));
    assert.ok(stops('starcoder2').includes('<file_sep>') && stops('starcoder').includes('<|endoftext|>'));
    // Every prompt-structure token a family uses is also a stop, so a server that prints it as text is cut there.
    const repoTokens: Partial<Record<FimFamily, string[]>> = {
      'qwen2.5-coder': ['<|file_sep|>', '<|repo_name|>'],
      starcoder2: ['<file_sep>', '<repo_name>'],
      codegemma: ['<|file_separator|>'],
    };
    for (const [family, tokens] of Object.entries(repoTokens))
      for (const t of tokens) assert.ok(stops(family as FimFamily).includes(t), `${family} ${t}`);
    // A caller may change its copy.
    renderFim('codestral', PLAIN).stop.push('x');
    assert.equal(stops('codestral').length, 4);
  });

  it('detects the family from model names, ids and paths', () => {
    const cases: [string, FimFamily | undefined][] = [
      ['qwen2.5-coder-1.5b-q8_0.gguf', 'qwen2.5-coder'],
      ['/home/u/models/Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf', 'qwen2.5-coder'],
      ['mlx-community/Qwen2.5-Coder-1.5B-4bit', 'qwen2.5-coder'],
      ['qwen/qwen3-coder-30b', 'qwen2.5-coder'],
      ['starcoder2-3b', 'starcoder2'],
      ['bigcode/starcoder2-15b', 'starcoder2'],
      ['starcoderbase-1b.Q8_0.gguf', 'starcoder'],
      ['stable-code-3b', 'starcoder'],
      ['codellama-7b-code', 'codellama'],
      ['CodeLlama-13B.Q4_K_M.gguf', 'codellama'],
      ['deepseek-coder-1.3b-base', 'deepseek-coder'],
      ['deepseek_coder_6.7b_base.gguf', 'deepseek-coder'],
      ['codestral-22b', 'codestral'],
      ['Codestral-22B-v0.1-Q4_K_M.gguf', 'codestral'],
      ['codegemma-2b', 'codegemma'],
      ['google/codegemma-1.1-7b', 'codegemma'],
      ['/models/qwen2.5-coder-3b/model.gguf', 'qwen2.5-coder'],
      ['llama-3.2-3b-instruct', undefined],
      ['qwen2.5-7b-instruct', undefined],
      ['', undefined],
    ];
    for (const [name, family] of cases) assert.equal(detectFamily(name), family, name);
  });

  it('ends a chunk with a newline, adding one only where missing', () => {
    assert.equal(chunkBody('a'), 'a\n');
    assert.equal(chunkBody('a\n'), 'a\n');
    assert.equal(chunkBody(''), '\n');
  });
});
