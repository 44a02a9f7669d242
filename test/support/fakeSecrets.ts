// Fake but correctly shaped secrets for the redactor's tests and bench: seeded, so every run sees the same values,
// and built at run time, so secret scanners find no literal secret in the sources.

export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const BASE64 = ALNUM + '+/';
export const BASE64URL = ALNUM + '-_';
export const HEX = '0123456789abcdef';
export const DIGITS = '0123456789';

/** `n` characters of `alphabet` from a fixed seed (mulberry32). */
export function seededChars(n: number, alphabet: string, seed = 1): string {
  let a = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out.push(alphabet[((t ^ (t >>> 14)) >>> 0) % alphabet.length]!);
  }
  return out.join('');
}
