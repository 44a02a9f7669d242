// The models Verdant offers to download. Every file is pinned by repository commit, byte size and sha256 so a
// re-upload upstream can never change what lands on the user's disk; downloadFile() refuses anything else.
//
// Where the hashes come from: Hugging Face shows each LFS file's "SHA256" and size on its blob page and in
// the tree API, but huggingface.co was out of reach when this was written, so every pair below was taken from
// at least three independent public projects that pin the same file at the same value (their own download
// checks would fail on a wrong one); the kinds of project are named per entry. Nothing is computed or guessed.
// The first real download re-checks both, and a mismatch is refused ('checksum-mismatch'), never loaded.

export type ModelFamily = 'qwen2.5-coder';
export type ModelRole = 'completion' | 'chat';

/** Shape of the attention cache, for estimating KV-cache memory (see fit.ts). */
export interface KvShape {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

export interface ModelPreset {
  readonly id: string;
  readonly name: string;
  readonly family: ModelFamily;
  /** completion: base model for inline completions; chat: instruct model for tasks. */
  readonly role: ModelRole;
  /** Trained for fill-in-the-middle (the base Qwen2.5-Coder models; instruct models are not tuned for it). */
  readonly fim: boolean;
  /** Parameter count as the model card states it, e.g. '1.5B'. */
  readonly parameters: string;
  readonly quantization: 'Q8_0' | 'Q4_K_M';
  readonly sizeBytes: number;
  /** Trained context in tokens. */
  readonly contextLength: number;
  /** SPDX id where there is one. */
  readonly license: string;
  /** What the model is good for, in the model picker's words. */
  readonly goodFor: string;
  /** Hugging Face `resolve/<commit>/<file>` URL: pinned to a commit, redirects to the CDN. */
  readonly url: string;
  /** Lower-case hex sha256 of the whole file. */
  readonly sha256: string;
  readonly fileName: string;
  readonly kv: KvShape;
}

// Architecture facts from the Qwen2.5-Coder model cards (config.json): grouped-query attention with 2 KV heads.
const KV_0_5B: KvShape = { layers: 24, kvHeads: 2, headDim: 64 };
const KV_1_5B: KvShape = { layers: 28, kvHeads: 2, headDim: 128 };
const KV_3B: KvShape = { layers: 36, kvHeads: 2, headDim: 128 };

const hf = (repo: string, commit: string, file: string) => `https://huggingface.co/${repo}/resolve/${commit}/${file}`;

export const MODEL_CATALOG: readonly ModelPreset[] = [
  // ggml-org/Qwen2.5-Coder-*-Q8_0-GGUF: llama.cpp's own packaging of the base models, the files llama.vscode and
  // llama-server's --fim-qwen-*-default presets use.
  {
    id: 'qwen2.5-coder-0.5b-q8_0',
    name: 'Qwen2.5-Coder 0.5B (base, Q8_0)',
    family: 'qwen2.5-coder',
    role: 'completion',
    fim: true,
    parameters: '0.5B',
    quantization: 'Q8_0',
    // Size + sha256 pinned identically by three public projects: a Python model fetcher and a Rust editor client
    // (both at revision 5788aee…) and a Rust model catalogue.
    sizeBytes: 531_068_128,
    sha256: 'd0f8cd6c49bab52a0abdbe47948518b1f4d9b1a8a2a6825099cea31cea10ac56',
    contextLength: 32_768,
    license: 'Apache-2.0',
    goodFor: "the quickest ghost text, on any laptop's CPU; short, local suggestions",
    fileName: 'qwen2.5-coder-0.5b-q8_0.gguf',
    url: hf('ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF', '5788aee90e725673490be18f553d234feaa8303d', 'qwen2.5-coder-0.5b-q8_0.gguf'),
    kv: KV_0_5B,
  },
  {
    id: 'qwen2.5-coder-1.5b-q8_0',
    name: 'Qwen2.5-Coder 1.5B (base, Q8_0)',
    family: 'qwen2.5-coder',
    role: 'completion',
    fim: true,
    parameters: '1.5B',
    quantization: 'Q8_0',
    // Pinned by several projects: a C# catalogue test ("HF tree API at the pinned revision"), two TypeScript
    // editor integrations and a Rust catalogue (all 1,646,573,056 bytes + this hash, revision 8be1b8a…), a Nix
    // fetchurl (hex) and another Nix fetchurl whose base32 hash decodes to the same digest.
    sizeBytes: 1_646_573_056,
    sha256: '29871c94d15727a6e243f79a37113d4ae625a6215b5e800bf41a23af2da32832',
    contextLength: 32_768,
    license: 'Apache-2.0',
    goodFor: 'ghost text that follows the file better; the usual choice on an iGPU or a recent CPU',
    fileName: 'qwen2.5-coder-1.5b-q8_0.gguf',
    url: hf('ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF', '8be1b8a895a84beea772817caaa71eba6b6e0d07', 'qwen2.5-coder-1.5b-q8_0.gguf'),
    kv: KV_1_5B,
  },
  {
    id: 'qwen2.5-coder-3b-q8_0',
    name: 'Qwen2.5-Coder 3B (base, Q8_0)',
    family: 'qwen2.5-coder',
    role: 'completion',
    fim: true,
    parameters: '3B',
    quantization: 'Q8_0',
    // Same C# catalogue test and TypeScript integrations as the 1.5B (revision 9c1de162…), plus a Nix fetchurl.
    sizeBytes: 3_285_476_160,
    sha256: 'a522a906e299ed34db738b9626b2cd0da9e446c14674468a22fc2eae3dbd344d',
    contextLength: 32_768,
    // Unlike the 0.5B/1.5B/7B, Qwen2.5-Coder-3B is released under the Qwen Research licence (non-commercial).
    license: 'LicenseRef-Qwen-Research',
    goodFor: "the best local ghost text, at twice the 1.5B's cost per token; non-commercial licence",
    fileName: 'qwen2.5-coder-3b-q8_0.gguf',
    url: hf('ggml-org/Qwen2.5-Coder-3B-Q8_0-GGUF', '9c1de162ae417c9c3aacde97c729c4128de047d8', 'qwen2.5-coder-3b-q8_0.gguf'),
    kv: KV_3B,
  },
  // Qwen/Qwen2.5-Coder-*-Instruct-GGUF: the Qwen team's official instruct quantizations, for chat tasks.
  {
    id: 'qwen2.5-coder-1.5b-instruct-q4_k_m',
    name: 'Qwen2.5-Coder 1.5B Instruct (Q4_K_M)',
    family: 'qwen2.5-coder',
    role: 'chat',
    fim: false,
    parameters: '1.5B',
    quantization: 'Q4_K_M',
    // Pinned by a Go catalogue test, a Kotlin app (revision f86cb2c1…), a Python tool (revision 38f6bab…), a
    // Rust installer and a Kotlin catalogue: all 1,117,320,768 bytes + this hash.
    sizeBytes: 1_117_320_768,
    sha256: 'cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046',
    contextLength: 32_768,
    license: 'Apache-2.0',
    goodFor: 'light tasks, commit messages and local drafts at little memory',
    fileName: 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
    url: hf('Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF', 'f86cb2c1fa58255f8052cc32aeede1b7482d4361', 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf'),
    kv: KV_1_5B,
  },
  {
    id: 'qwen2.5-coder-1.5b-instruct-q8_0',
    name: 'Qwen2.5-Coder 1.5B Instruct (Q8_0)',
    family: 'qwen2.5-coder',
    role: 'chat',
    fim: false,
    parameters: '1.5B',
    quantization: 'Q8_0',
    // Pinned by a C++ model catalogue (revision f86cb2c1…), a Kotlin app (revision 2ab9f8f…), a research log
    // that "checked against their LFS SHA-256 and byte counts", and a shell fetch script.
    sizeBytes: 1_894_532_160,
    sha256: '507de59046601282ba768a9789900e6ccf60ed93ddf346730b7c68eb0715bc47',
    contextLength: 32_768,
    license: 'Apache-2.0',
    goodFor: 'light tasks, commit messages and local drafts, more exact than Q4_K_M',
    fileName: 'qwen2.5-coder-1.5b-instruct-q8_0.gguf',
    url: hf('Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF', 'f86cb2c1fa58255f8052cc32aeede1b7482d4361', 'qwen2.5-coder-1.5b-instruct-q8_0.gguf'),
    kv: KV_1_5B,
  },
  {
    id: 'qwen2.5-coder-3b-instruct-q4_k_m',
    name: 'Qwen2.5-Coder 3B Instruct (Q4_K_M)',
    family: 'qwen2.5-coder',
    role: 'chat',
    fim: false,
    parameters: '3B',
    quantization: 'Q4_K_M',
    // Pinned by a Swift test (revision f74adce6…), a Python manifest test, a Rust manifest and a TypeScript
    // extension: all 2,104,932,800 bytes + this hash.
    sizeBytes: 2_104_932_800,
    sha256: '724fb256bec1ff062b2f65e4569e871ad2e95ab2a3989723d1769c54294730b7',
    contextLength: 32_768,
    license: 'LicenseRef-Qwen-Research',
    goodFor: 'refactor plans and explanations that hold together; non-commercial licence',
    fileName: 'qwen2.5-coder-3b-instruct-q4_k_m.gguf',
    url: hf('Qwen/Qwen2.5-Coder-3B-Instruct-GGUF', 'f74adce6aa16316c625447af059dbebe4983757c', 'qwen2.5-coder-3b-instruct-q4_k_m.gguf'),
    kv: KV_3B,
  },
];
