// Fill-in-the-middle prompt templates per model family, as text: what a text-prompt backend (LM Studio, MLX or
// Lemonade via the OpenAI-compatible API) sends, and the reference for the token layout the llama.cpp engine builds
// itself.
// Sources (checked, not copied):
// - Qwen2.5-Coder: QwenLM/Qwen2.5-Coder examples/Qwen2.5-Coder-repolevel-fim.py (`<|repo_name|>name\n`, then
//   `<|file_sep|>path\ncontent` per file, the current file's `<|file_sep|>path\n` before `<|fim_prefix|>`); the same
//   order as llama.cpp's server `format_prompt_infill`.
// - StarCoder2: the StarCoder2 paper (arXiv 2402.19173, repository-context format):
//   `<repo_name>name<file_sep>path\ncode…<file_sep><fim_prefix>path\npre<fim_suffix>suf<fim_middle>`.
// - CodeLlama: `<PRE> {prefix} <SUF>{suffix} <MID>` (llama.cpp's infill example and Continue), ends with `<EOT>`.
// - DeepSeek-Coder: its README (`<｜fim▁begin｜>…<｜fim▁hole｜>…<｜fim▁end｜>`, full-width bars and U+2581); its
//   repository-level example puts each file behind a `#path` line as plain text, so other files go at the start of
//   the prefix.
// - Codestral: mistral-common's encode_fim (`[SUFFIX]suffix[PREFIX]prefix`); other files as `+++++ path` blocks
//   joined by blank lines is Continue's convention.
// - CodeGemma: Google's prompt-structure page (`<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`, `<|file_separator|>`
//   for multi-file contexts, no documented path form); `<|file_separator|>path\n` per file is the convention of
//   JetBrains plugins such as CodeGPT.
// - CodeLlama and StarCoder (v1, SantaCoder, StableCode, CodeQwen1.5) have no multi-file form: extra chunks are left out.

export type FimFamily = 'qwen2.5-coder' | 'starcoder2' | 'starcoder' | 'codellama' | 'deepseek-coder' | 'codestral' | 'codegemma';

/** A chunk of another file (structurally the engine's ContextChunk). */
export interface FimChunk {
  readonly path: string;
  readonly text: string;
}

export interface FimInput {
  readonly prefix: string;
  readonly suffix: string;
  /** Path of the file being completed. */
  readonly filePath?: string;
  readonly repoName?: string;
  /** Other files' chunks, oldest first; placed before the file where the family has a multi-file form. */
  readonly extra?: readonly FimChunk[];
}

export interface RenderedFim {
  readonly prompt: string;
  /** The family's end and separator tokens, to cut at client-side when a server prints them as text. */
  readonly stop: string[];
}

/** Qwen-style repository-level special tokens (also what llama.cpp calls FIM_REP and FIM_SEP). */
export const REPO_TOKENS = { repoName: '<|repo_name|>', fileSep: '<|file_sep|>' } as const;

/** The current file's name in a multi-file layout when the request has none. */
export const UNTITLED_PATH = 'untitled';

/** A chunk's text as placed in a multi-file layout: ending in a newline, so the next separator starts a line. */
export function chunkBody(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

const STOPS: Readonly<Record<FimFamily, readonly string[]>> = {
  'qwen2.5-coder': [
    '<|endoftext|>',
    '<|fim_prefix|>',
    '<|fim_suffix|>',
    '<|fim_middle|>',
    '<|fim_pad|>',
    '<|repo_name|>',
    '<|file_sep|>',
    '<|im_start|>',
    '<|im_end|>',
  ],
  starcoder2: ['<|endoftext|>', '<fim_prefix>', '<fim_suffix>', '<fim_middle>', '<fim_pad>', '<repo_name>', '<file_sep>'],
  starcoder: ['<|endoftext|>', '<fim_prefix>', '<fim_suffix>', '<fim_middle>', '<file_sep>'],
  codellama: ['<EOT>', '<PRE>', '<SUF>', '<MID>', '</s>'],
  'deepseek-coder': ['<｜end▁of▁sentence｜>', '<|EOT|>', '<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>'],
  codestral: ['</s>', '[PREFIX]', '[SUFFIX]', '[MIDDLE]'],
  codegemma: ['<|file_separator|>', '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<end_of_turn>', '<eos>'],
};

// Checked in order: more specific names first (starcoder2 before starcoder).
const DETECT: readonly (readonly [RegExp, FimFamily])[] = [
  [/codestral/, 'codestral'],
  [/code-?gemma/, 'codegemma'],
  [/code-?llama/, 'codellama'],
  [/deepseek-?coder/, 'deepseek-coder'],
  [/qwen-?(2\.5|3)-?coder/, 'qwen2.5-coder'],
  [/star-?coder-?2/, 'starcoder2'],
  [/star-?coder|santa-?coder|stable-?code|code-?qwen/, 'starcoder'],
];

/**
 * The FIM family a model name, id or file path names, e.g. "mlx-community/Qwen2.5-Coder-7B-4bit" or
 * "/models/qwen2.5-coder-1.5b-q8_0.gguf" -> 'qwen2.5-coder'. The file name decides; the whole path is the fallback
 * (a folder named after the model holding "model.gguf").
 */
export function detectFamily(modelNameOrPath: string): FimFamily | undefined {
  const normalized = modelNameOrPath.toLowerCase().replace(/_/g, '-');
  const base = normalized.split(/[\\/]/).pop() ?? normalized;
  return match(base) ?? match(normalized);
}

function match(name: string): FimFamily | undefined {
  return DETECT.find(([re]) => re.test(name))?.[1];
}

/** The family's FIM prompt, with other files' chunks where it has a multi-file form. */
export function renderFim(family: FimFamily, input: FimInput): RenderedFim {
  return { prompt: RENDER[family](input), stop: [...STOPS[family]] };
}

const extraOf = (input: FimInput): readonly FimChunk[] => input.extra ?? [];
const currentPath = (input: FimInput): string => input.filePath || UNTITLED_PATH;
/** Families with repository tokens use them whenever there is anything to say about the repository. */
const wantsRepoTokens = (input: FimInput): boolean => extraOf(input).length > 0 || !!input.filePath || !!input.repoName;

const RENDER: Readonly<Record<FimFamily, (input: FimInput) => string>> = {
  'qwen2.5-coder': (input) => {
    const fim = `<|fim_prefix|>${input.prefix}<|fim_suffix|>${input.suffix}<|fim_middle|>`;
    if (!wantsRepoTokens(input)) return fim;
    const repo = input.repoName ? `${REPO_TOKENS.repoName}${input.repoName}\n` : '';
    const files = extraOf(input)
      .map((c) => `${REPO_TOKENS.fileSep}${c.path}\n${chunkBody(c.text)}`)
      .join('');
    return `${repo}${files}${REPO_TOKENS.fileSep}${currentPath(input)}\n${fim}`;
  },
  starcoder2: (input) => {
    if (!wantsRepoTokens(input)) return `<fim_prefix>${input.prefix}<fim_suffix>${input.suffix}<fim_middle>`;
    // The paper's layout: no newline after the repository name, the current path inside the FIM prefix.
    const repo = input.repoName ? `<repo_name>${input.repoName}` : '';
    const files = extraOf(input)
      .map((c) => `<file_sep>${c.path}\n${c.text}`)
      .join('');
    return `${repo}${files}<file_sep><fim_prefix>${currentPath(input)}\n${input.prefix}<fim_suffix>${input.suffix}<fim_middle>`;
  },
  starcoder: (input) => `<fim_prefix>${input.prefix}<fim_suffix>${input.suffix}<fim_middle>`,
  codellama: (input) => `<PRE> ${input.prefix} <SUF>${input.suffix} <MID>`,
  'deepseek-coder': (input) => {
    const extra = extraOf(input);
    const files = extra.length === 0 ? '' : `${extra.map((c) => `#${c.path}\n${chunkBody(c.text)}`).join('')}#${currentPath(input)}\n`;
    return `<｜fim▁begin｜>${files}${input.prefix}<｜fim▁hole｜>${input.suffix}<｜fim▁end｜>`;
  },
  codestral: (input) => {
    const extra = extraOf(input);
    const files = extra.length === 0 ? '' : `${extra.map((c) => `+++++ ${c.path}\n${c.text}`).join('\n\n')}\n\n+++++ ${currentPath(input)}\n`;
    return `[SUFFIX]${input.suffix}[PREFIX]${files}${input.prefix}`;
  },
  codegemma: (input) => {
    const extra = extraOf(input);
    const files =
      extra.length === 0
        ? ''
        : `${extra.map((c) => `<|file_separator|>${c.path}\n${chunkBody(c.text)}`).join('')}<|file_separator|>${currentPath(input)}\n`;
    return `${files}<|fim_prefix|>${input.prefix}<|fim_suffix|>${input.suffix}<|fim_middle|>`;
  },
};
