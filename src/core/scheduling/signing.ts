// The job queue's signer: HMAC-SHA256 with a per-user key kept outside the queue's folder (the extension keeps it in
// SecretStorage), so that writing a file into global storage is not enough to have Verdant run something.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JobSigner } from './queue';

export interface KeyStore {
  /** The stored key (hex), or undefined when there is none yet. */
  get(): Promise<string | undefined>;
  set(value: string): Promise<void>;
}

const KEY_HEX = /^[0-9a-f]{64}$/;

/**
 * A signer over `store`: the key is made on first use and cached; a signature that does not verify is checked once
 * more against the stored key (another window may have made or replaced it meanwhile) before it counts as bad.
 */
export function hmacSigner(store: KeyStore): JobSigner & { forget(): void } {
  let cached: Promise<Buffer> | undefined;
  const load = async (): Promise<Buffer> => {
    const stored = await store.get();
    if (stored !== undefined && KEY_HEX.test(stored)) return Buffer.from(stored, 'hex');
    const made = randomBytes(32).toString('hex');
    await store.set(made);
    // Two windows making the first key at once: the one stored last is the one every window reads from now on.
    const now = await store.get();
    return Buffer.from(now !== undefined && KEY_HEX.test(now) ? now : made, 'hex');
  };
  const key = () =>
    (cached ??= load().catch((e: unknown) => {
      cached = undefined;
      throw e;
    }));
  const mac = (k: Buffer, text: string) => createHmac('sha256', k).update(`verdant-job-v1\0${text}`).digest();
  const matches = (k: Buffer, text: string, given: string) => KEY_HEX.test(given) && timingSafeEqual(mac(k, text), Buffer.from(given, 'hex'));
  return {
    sign: async (text) => mac(await key(), text).toString('hex'),
    verify: async (text, given) => {
      if (matches(await key(), text, given)) return true;
      cached = undefined;
      return matches(await key(), text, given);
    },
    forget: () => {
      cached = undefined;
    },
  };
}
