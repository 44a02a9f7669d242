// Reading untrusted JSON (server answers): narrow an unknown value without trusting its shape.

export type JsonObject = Readonly<Record<string, unknown>>;

export function asObject(v: unknown): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
}
export function asString(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
export function asNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
export function asArray(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
