// The router's classifier on onnxruntime-node (src/core/routing/model/router.onnx: features[N,16] -> p_local[N,1]). Runs in
// the engine worker or the CLI only, never in the extension host: onnxruntime-node is native and is required
// lazily inside load(). ORT does not fall back when an execution provider fails to create a session (WebGPU
// throws; an unregistered 'dml' on Linux/macOS fails), so each provider gets its own session attempt, in order.
import { access } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { FEATURE_COUNT } from '../../core/routing/features';
import { errorMessage } from '../../core/errors';

export type RouterProvider = 'dml' | 'cpu';

export interface OnnxRouterOptions {
  /** Decides the provider order: ['dml', 'cpu'] on win32, ['cpu'] elsewhere. Defaults to process.platform. */
  readonly platform?: NodeJS.Platform;
  /** Overrides the order (tests; a user's "CPU only" setting). */
  readonly providers?: readonly string[];
}

export function providerOrder(platform: NodeJS.Platform): RouterProvider[] {
  return platform === 'win32' ? ['dml', 'cpu'] : ['cpu'];
}

function loadOrt(): typeof Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('onnxruntime-node') as typeof Ort;
}

export class OnnxRouter {
  private constructor(
    private readonly ort: typeof Ort,
    private session: Ort.InferenceSession | undefined,
    /** The execution provider the session was created with. */
    readonly providers: readonly string[],
    /** Providers that failed before it, with ORT's message. */
    readonly skipped: readonly { provider: string; error: string }[],
  ) {}

  /** Creates a session with the first provider that works; one error naming the file if none does. */
  static async load(modelPath: string, options: OnnxRouterOptions = {}): Promise<OnnxRouter> {
    try {
      await access(modelPath);
    } catch {
      throw new Error(`Router model ${modelPath} not found; build it with 'node scripts/build-router-model.mjs'.`);
    }
    const ort = loadOrt();
    const order = options.providers ?? providerOrder(options.platform ?? process.platform);
    if (order.length === 0) throw new Error('OnnxRouter.load: no execution providers to try.');
    const skipped: { provider: string; error: string }[] = [];
    for (const provider of order) {
      try {
        const session = await ort.InferenceSession.create(modelPath, {
          executionProviders: [provider],
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
        });
        if (!session.inputNames.includes('features') || !session.outputNames.includes('p_local')) {
          await session.release();
          throw new Error(
            `Router model ${modelPath} has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; expected 'features' -> 'p_local'. Rebuild it with 'node scripts/build-router-model.mjs'.`,
          );
        }
        return new OnnxRouter(ort, session, [provider], skipped);
      } catch (e) {
        if (e instanceof Error && e.message.startsWith('Router model ')) throw e;
        skipped.push({ provider, error: errorMessage(e) });
      }
    }
    const tried = skipped.map((s) => `${s.provider}: ${s.error}`).join('; ');
    throw new Error(
      `Could not load the router model ${modelPath} (not a valid ONNX model: corrupt or truncated?); rebuild it with 'node scripts/build-router-model.mjs'. Tried ${tried}`,
    );
  }

  /** P(the local model suffices) for each feature vector, in one batched run. */
  async predict(features: readonly Float32Array[]): Promise<number[]> {
    const session = this.session;
    if (session === undefined) throw new Error('OnnxRouter.predict after dispose().');
    if (features.length === 0) return [];
    const batch = new Float32Array(features.length * FEATURE_COUNT);
    features.forEach((f, i) => {
      if (f.length !== FEATURE_COUNT) throw new RangeError(`Row ${i} has ${f.length} features, expected ${FEATURE_COUNT}.`);
      batch.set(f, i * FEATURE_COUNT);
    });
    const input = new this.ort.Tensor('float32', batch, [features.length, FEATURE_COUNT]);
    const out = await session.run({ features: input });
    const p = out.p_local;
    // load() checked that the model has this output, so a missing one is a broken runtime, not a bad model file.
    if (p === undefined) throw new Error('OnnxRouter.predict: the session returned no p_local output.');
    return Array.from(p.data as Float32Array);
  }

  async dispose(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) await session.release();
  }
}
