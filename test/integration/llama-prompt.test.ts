// The llama.cpp engine's FIM prompt with other files' chunks (repository-level layout) and prompt-only warm-ups,
// with the real node-llama-cpp tokenizer and the real stories260K model rewritten to have FIM and repository tokens.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ContextChunk, FimRequest } from '../../src/engine/types';
import { importLlama, type Llama, type LlamaModel, type LlamaModule, type Token } from '../../src/engine/llama/binding';
import { LlamaEngine, type ModelConfig } from '../../src/engine/llama/engine';
import { buildPrompt, newestThatFit, repoTokens } from '../../src/engine/llama/prompt';
import { makeRepoFimVariant, type RepoFimVariantTokens } from '../support/ggufRewrite';
import { testModels, type TestModels } from '../support/models';

const LILY = 'Once upon a time, there was a little girl named Lily. She';
const CHUNKS: readonly ContextChunk[] = [
  { path: 'old.txt', text: 'The dog ran to the park.' },
  { path: 'mid.txt', text: 'Tom had a big red ball.\n' },
  { path: 'new.txt', text: 'Lily liked to play with her friends.' },
];

describe('llama.cpp FIM prompt: repository layout and warm-ups (real model)', function () {
  this.timeout(120000);
  let models: TestModels;
  let repoPath: string;
  let ids: RepoFimVariantTokens;
  let mod: LlamaModule;
  let llama: Llama;
  let repoVocab: LlamaModel;
  let fimVocab: LlamaModel;
  const config = (modelPath: string): ModelConfig => ({ modelPath, gpu: 'cpu', threads: 1, contextSize: 512, sequences: 2 });
  const fim = (over: Partial<FimRequest> = {}): FimRequest => ({
    kind: 'fim',
    prefix: LILY,
    suffix: ' She was happy.',
    maxTokens: 8,
    filePath: 'story.txt',
    repoName: 'tales',
    extra: CHUNKS,
    ...over,
  });

  before(async () => {
    models = await testModels();
    repoPath = path.join(models.dir, 'stories260K-repo-fim.gguf');
    ids = await makeRepoFimVariant(models.base, repoPath);
    mod = await importLlama();
    llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error, progressLogs: false, usePrebuiltBinaries: true });
    // Tokenizer-only copies: prompt layout tests need no weights or context.
    repoVocab = await llama.loadModel({ modelPath: repoPath, vocabOnly: true });
    fimVocab = await llama.loadModel({ modelPath: models.fim, vocabOnly: true });
  });
  after(async () => {
    await repoVocab?.dispose();
    await fimVocab?.dispose();
    await llama?.dispose();
  });

  describe('layout (the model tokenizer)', () => {
    const text = (s: string): Token[] => repoVocab.tokenize(s, false, 'trimLeadingSpace');

    it('finds the repository tokens only where each is one special token', () => {
      assert.deepEqual(repoTokens(repoVocab), { repoName: ids.fimRep, fileSep: ids.fimSep });
      assert.equal(repoTokens(fimVocab), null);
    });

    it('puts the repository name, each chunk, the file path, then the FIM part, in that order', () => {
      const prompt = buildPrompt(mod, repoVocab, fim({ prefix: `The sun was warm.\n${LILY}` }), 512);
      const bos = repoVocab.tokens.bos!;
      const chunk = (c: ContextChunk) => [ids.fimSep, ...text(`${c.path}\n`), ...text(c.text.endsWith('\n') ? c.text : `${c.text}\n`)];
      assert.deepEqual(prompt.tokens, [
        bos,
        ids.fimRep,
        ...text('tales\n'),
        ...chunk(CHUNKS[0]!),
        ...chunk(CHUNKS[1]!),
        ...chunk(CHUNKS[2]!),
        ids.fimSep,
        ...text('story.txt\n'),
        ids.fimPre,
        ...text('The sun was warm.\n'),
        ids.fimSuf,
        ...text(' She was happy.'),
        ids.fimMid,
        ...text(LILY), // the cursor's line starts the middle (llama-server's /infill layout)
      ]);
      assert.equal(prompt.usedFim, true);
      assert.equal(prompt.contextChunks, 3);
      assert.equal(
        repoVocab.detokenize(prompt.tokens.slice(1), true),
        '<|repo_name|>tales\n<|file_sep|>old.txt\nThe dog ran to the park.\n<|file_sep|>mid.txt\nTom had a big red ball.\n' +
          '<|file_sep|>new.txt\nLily liked to play with her friends.\n<|file_sep|>story.txt\n' +
          `<|fim_prefix|>The sun was warm.\n<|fim_suffix|> She was happy.<|fim_middle|>${LILY}`,
      );
    });

    it('lays the same chunks out as the same tokens whatever the file prefix, so the cache keeps them', () => {
      const a = buildPrompt(mod, repoVocab, fim(), 512).tokens;
      const b = buildPrompt(mod, repoVocab, fim({ prefix: `${LILY} loved to play` }), 512).tokens;
      const fimStart = a.indexOf(ids.fimPre as Token);
      assert.ok(fimStart > 30);
      assert.deepEqual(b.slice(0, fimStart + 1), a.slice(0, fimStart + 1));
      assert.deepEqual(buildPrompt(mod, repoVocab, fim(), 512).tokens, a, 'deterministic');
    });

    it('uses the layout for a file path alone, without a repository name', () => {
      const prompt = buildPrompt(mod, repoVocab, fim({ repoName: undefined, extra: undefined }), 512);
      assert.equal(
        repoVocab.detokenize(prompt.tokens.slice(1), true),
        `<|file_sep|>story.txt\n<|fim_prefix|><|fim_suffix|> She was happy.<|fim_middle|>${LILY}`,
      );
      assert.equal(prompt.contextChunks, 0);
    });

    it('leaves the chunks out on a model without repository tokens', () => {
      const withChunks = buildPrompt(mod, fimVocab, fim(), 512);
      const without = buildPrompt(mod, fimVocab, fim({ extra: undefined, filePath: undefined, repoName: undefined }), 512);
      assert.deepEqual(withChunks.tokens, without.tokens);
      assert.equal(withChunks.contextChunks, 0);
      assert.equal(withChunks.usedFim, true);
    });

    it('drops whole chunks from the oldest as the file takes more of a small room', () => {
      // 128-token context, 8 for the answer: 116 tokens of room; chunks get what the file leaves, at most half.
      const layout = (repeat: number) => {
        const prompt = buildPrompt(mod, repoVocab, fim({ prefix: `${LILY} liked to play. `.repeat(repeat) }), 128);
        assert.ok(prompt.tokens.length <= 128 - 8 - 1, `prompt ${prompt.tokens.length} tokens`);
        const shown = repoVocab.detokenize(prompt.tokens, true);
        return { n: prompt.contextChunks, paths: ['old.txt', 'mid.txt', 'new.txt'].filter((p) => shown.includes(p)), shown };
      };
      assert.deepEqual([layout(1).n, layout(1).paths], [2, ['mid.txt', 'new.txt']]);
      const one = layout(3);
      assert.deepEqual([one.n, one.paths], [1, ['new.txt']]);
      assert.ok(one.shown.endsWith('liked to play. '), one.shown);
      assert.ok(one.shown.includes('<|fim_prefix|><|fim_suffix|> She was happy.<|fim_middle|>'), one.shown);
      // The file itself gets the room first: a prefix longer than the room squeezes every chunk out (and keeps its end).
      const none = layout(8);
      assert.deepEqual([none.n, none.paths], [0, []]);
      assert.match(
        none.shown,
        /^<s><\|repo_name\|>tales\n<\|file_sep\|>story.txt\n<\|fim_prefix\|><\|fim_suffix\|> She was happy.<\|fim_middle\|>.* She liked to play. $/,
      );
    });

    it('keeps the suffix, and the end of the prefix from a line start, when the prefix alone is longer than the room', () => {
      const long = `${LILY} liked to play.\n`.repeat(60) + 'Then she';
      const prompt = buildPrompt(mod, fimVocab, fim({ prefix: long, extra: undefined, filePath: undefined, repoName: undefined }), 512);
      assert.ok(prompt.tokens.length <= 512 - 8 - 1, `prompt ${prompt.tokens.length} tokens`);
      const shown = fimVocab.detokenize(prompt.tokens, true);
      assert.ok(shown.endsWith('liked to play.\n<|fim_suffix|> She was happy.<|fim_middle|>Then she'), shown.slice(-80));
      assert.match(shown, /^<s><\|fim_prefix\|>Once upon a time/, 'the kept prefix starts at a line start');
    });

    it('keeps the newest chunks that fit together, in order', () => {
      assert.deepEqual(newestThatFit([[1, 1], [2], [3, 3, 3]], 4), [[2], [3, 3, 3]]);
      assert.deepEqual(newestThatFit([[1], [2, 2, 2, 2], [3]], 4), [[3]], 'stops at the first chunk that does not fit');
      assert.deepEqual(newestThatFit([[1]], 0), []);
      assert.deepEqual(newestThatFit([[1]], -5), []);
    });
  });

  describe('engine', () => {
    let engine: LlamaEngine;
    before(async () => {
      engine = await LlamaEngine.load(config(repoPath));
    });
    after(async () => {
      await engine?.dispose();
    });

    it('generates with the chunks and re-evaluates only the tail when the prefix grows', async () => {
      const key = 'file:///story.txt';
      const a = await engine.generate(fim({ sessionKey: key }));
      assert.equal(a.usedFim, true);
      assert.ok(a.timing.evaluatedTokens! >= a.timing.promptTokens - 1, `evaluated ${a.timing.evaluatedTokens} of ${a.timing.promptTokens}`);
      const b = await engine.generate(fim({ sessionKey: key, prefix: `${LILY} loved` }));
      // Only what follows <|fim_prefix|> and the changed words: the chunks stay cached.
      const tail = b.timing.promptTokens - buildPrompt(mod, repoVocab, fim(), 512).tokens.indexOf(ids.fimPre as Token);
      assert.ok(b.timing.evaluatedTokens! <= tail, `evaluated ${b.timing.evaluatedTokens}, tail ${tail} of ${b.timing.promptTokens}`);
      assert.ok(b.timing.evaluatedTokens! < b.timing.promptTokens / 3, `evaluated ${b.timing.evaluatedTokens} of ${b.timing.promptTokens}`);
    });

    it('a prompt-only request (maxTokens 0) fills the cache; the real request then evaluates one token', async () => {
      const key = 'file:///warm.txt';
      const warm = await engine.generate(fim({ sessionKey: key, maxTokens: 0 }));
      assert.equal(warm.text, '');
      assert.equal(warm.timing.generatedTokens, 0);
      // A new key takes over the least recently used sequence, which shares at most the BOS token.
      assert.ok(
        warm.timing.evaluatedTokens! >= warm.timing.promptTokens - 1,
        `evaluated ${warm.timing.evaluatedTokens} of ${warm.timing.promptTokens}`,
      );
      const again = await engine.generate(fim({ sessionKey: key, maxTokens: 0 }));
      assert.equal(again.timing.evaluatedTokens, 0, 'a repeated warm-up finds everything cached');
      const real = await engine.generate(fim({ sessionKey: key, maxTokens: 6 }));
      assert.equal(real.timing.evaluatedTokens, 1, 'only the last prompt token, for its logits');
      assert.equal(real.timing.promptTokens, warm.timing.promptTokens);
      // The same answer as without the warm-up.
      const cold = await engine.generate(fim({ sessionKey: 'file:///cold.txt', maxTokens: 6 }));
      assert.equal(real.text, cold.text);
    });

    it('a warm-up for the typed-ahead state leaves only the changed tail for the next keystroke', async () => {
      const key = 'file:///ahead.txt';
      const ahead = fim({ sessionKey: key, maxTokens: 0, prefix: `${LILY} loved to` });
      const typed = fim({ sessionKey: key, maxTokens: 4, prefix: `${LILY} loved to play` });
      await engine.generate(ahead);
      const next = await engine.generate(typed);
      // Exactly the tokens after the common prefix of the two prompts: the new word, then the suffix part again.
      const was = buildPrompt(mod, repoVocab, ahead, 512).tokens;
      const now = buildPrompt(mod, repoVocab, typed, 512).tokens;
      let common = 0;
      while (common < was.length && was[common] === now[common]) common++;
      assert.equal(next.timing.evaluatedTokens, now.length - common);
      assert.ok(next.timing.evaluatedTokens! < 10, `evaluated ${next.timing.evaluatedTokens} of ${next.timing.promptTokens}`);
    });

    it('a warm-up works for a plain completion too, and an aborted one evaluates nothing', async () => {
      const warm = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 0, sessionKey: 'plain' });
      assert.deepEqual([warm.text, warm.timing.generatedTokens, warm.stopReason], ['', 0, 'maxTokens']);
      assert.ok(warm.timing.evaluatedTokens! >= warm.timing.promptTokens - 1);
      const next = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 4, sessionKey: 'plain' });
      assert.equal(next.timing.evaluatedTokens, 1);
      const aborted = await engine.generate(
        { kind: 'completion', prompt: `${LILY} ran`, maxTokens: 0, sessionKey: 'plain' },
        { signal: AbortSignal.abort() },
      );
      assert.deepEqual([aborted.stopReason, aborted.timing.evaluatedTokens], ['abort', 0]);
    });

    // Last: it leaves a long prompt in a sequence, which the tests above would otherwise find in the cache.
    it('typing at the end of a prefix longer than the window re-evaluates only the typed tokens, even as the cut moves', async () => {
      const key = 'file:///long.txt';
      const plain = { extra: undefined, filePath: undefined, repoName: undefined, sessionKey: key, maxTokens: 2 };
      // Numbered lines: a cut by whole lines does not leave the same tokens in the same places by chance.
      const base = Array.from({ length: 40 }, (_, i) => `${i + 1}. Tom had a small dog named Spot.\n`).join('');
      const typed = 'Then she ran to the park with her big red ball and her dog.\nThey played all day in the sun with Tom and Spot.\nThe end';
      const suffix = ' She was happy.';
      const tokens = (s: string) => fimVocab.tokenize(s, false, 'trimLeadingSpace').length;
      const first = await engine.generate(fim({ ...plain, prefix: base, suffix }));
      assert.ok(first.timing.evaluatedTokens! > 400, `cold: ${first.timing.evaluatedTokens}`);
      let moves = 0;
      let was = first.timing.promptTokens;
      for (let i = 1; i <= typed.length; i++) {
        const r = await engine.generate(fim({ ...plain, prefix: base + typed.slice(0, i), suffix }));
        if (r.timing.promptTokens < was - 5) moves++; // more than a word's tokens merging
        was = r.timing.promptTokens;
        // On the line: the changed word only (the line is the end of the prompt). Enter: the finished line joins the
        // lines above, so it and the suffix after it are evaluated again.
        const line = typed.slice(0, i).split('\n').at(-2);
        const bound = typed[i - 1] === '\n' ? tokens(`${line}\n`) + tokens(suffix) + 8 : 8;
        assert.ok(r.timing.evaluatedTokens! <= bound, `keystroke ${i}: evaluated ${r.timing.evaluatedTokens} of ${r.timing.promptTokens}`);
      }
      assert.ok(moves > 0, 'the cut moved while typing (the shift was exercised)');
    });

    it('rejects malformed chunk lists', async () => {
      const bad = (over: Record<string, unknown>) => engine.generate({ ...fim(), ...over } as FimRequest);
      const isBad = (e: unknown) => e instanceof Error && 'code' in e && e.code === 'bad-request';
      await assert.rejects(bad({ extra: [{ path: 'a' }] }), isBad);
      await assert.rejects(bad({ extra: 'a' }), isBad);
      await assert.rejects(bad({ filePath: 3 }), isBad);
    });
  });
});
