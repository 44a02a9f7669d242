// Messages between the extension host (or the CLI) and the engine worker process. Versioned, so a client never
// talks to a worker built from another release.
export const PROTOCOL_VERSION = 1;

export type ClientMessage =
  | { readonly type: 'hello'; readonly protocol: number }
  | { readonly type: 'shutdown' };

export type WorkerMessage =
  | { readonly type: 'hello'; readonly protocol: number; readonly version: string; readonly pid: number; readonly node: string }
  | { readonly type: 'error'; readonly message: string };

export function isClientMessage(m: unknown): m is ClientMessage {
  if (typeof m !== 'object' || m === null) return false;
  const type = (m as { type?: unknown }).type;
  return (type === 'hello' && typeof (m as { protocol?: unknown }).protocol === 'number') || type === 'shutdown';
}
