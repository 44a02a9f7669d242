// Finds the tests' tiny GGUF model, stories260K.gguf (Karpathy's tinyllamas via llama.cpp's CI conversion, MIT),
// without assuming network access: an explicit path, then the copy shared next to the repository, then a
// verified cache, and only then a download into that cache.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadFile } from '../../src/engine/models/download';

export const TEST_MODEL = {
  fileName: 'stories260K.gguf',
  sizeBytes: 1_185_376,
  sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
  url: 'https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf',
} as const;

export interface ResolveTestModelOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** The repository root; mocha runs there. */
  readonly cwd?: string;
  readonly homeDir?: string;
  /** Where to fetch from when nothing local works (tests point this at a loopback server). */
  readonly url?: string;
}

/** Where the test model can be cached: `$VERDANT_CACHE/models`, else `~/.cache/verdant-dev/models`. */
export function testModelCacheDir(env: NodeJS.ProcessEnv = process.env, homeDir: string = os.homedir()): string {
  return env.VERDANT_CACHE ? path.join(env.VERDANT_CACHE, 'models') : path.join(homeDir, '.cache', 'verdant-dev', 'models');
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Path of a verified stories260K.gguf; throws saying what was tried when there is none. */
export async function resolveTestModel(options: ResolveTestModelOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  // An explicit choice is honoured as is (it may be another model on purpose), but must exist.
  const explicit = env.VERDANT_TEST_MODEL;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`VERDANT_TEST_MODEL is set to ${explicit}, but there is no file there; fix or unset it.`);
    return path.resolve(explicit);
  }

  const tried: string[] = [];
  const verified = async (file: string): Promise<boolean> => {
    if (!existsSync(file)) {
      tried.push(`${file}: not present`);
      return false;
    }
    const actual = await sha256File(file);
    if (actual === TEST_MODEL.sha256) return true;
    tried.push(`${file}: wrong sha256 ${actual}`);
    return false;
  };

  const shared = path.resolve(cwd, '..', 'shared', 'models', TEST_MODEL.fileName);
  if (await verified(shared)) return shared;

  const cached = path.join(testModelCacheDir(env, options.homeDir), TEST_MODEL.fileName);
  if (await verified(cached)) return cached;

  const url = options.url ?? TEST_MODEL.url;
  try {
    const result = await downloadFile({ url, dest: cached, sha256: TEST_MODEL.sha256, expectedBytes: TEST_MODEL.sizeBytes });
    return result.path;
  } catch (e) {
    tried.push(`download from ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  throw new Error(
    `The test model ${TEST_MODEL.fileName} is not available. Tried:\n  ${tried.join('\n  ')}\n` +
      `Put a copy (sha256 ${TEST_MODEL.sha256}) at one of those paths or set VERDANT_TEST_MODEL to it.`,
  );
}
