// Readers for untrusted JSON from the live sources, and the time formats they use.

export type JsonObject = Readonly<Record<string, unknown>>;

export function asObject(v: unknown): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

export function asArray(v: unknown): readonly unknown[] | undefined {
  return Array.isArray(v) ? v : undefined;
}

/** A finite, non-negative number (an intensity); undefined otherwise. */
export function asIntensity(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

export function asString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A timestamp in any form Date.parse reads ('2018-01-20T12:00Z', '+00:00' offsets), as ISO 8601 UTC. */
export function asIsoTime(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}
