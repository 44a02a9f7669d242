// VS Code cancels with a CancellationToken; the engine, the cloud client and downloads take an AbortSignal. One bridge
// between them, which stops listening to the token when the work is done (a listener left on a long-lived token
// keeps its controller alive). Type-only use of 'vscode', so unit tests can run it with a fake token.
import type * as vscode from 'vscode';

/** An AbortSignal that follows the token (already aborted if the token is cancelled); dispose() stops listening. */
export function abortSignalOf(token: vscode.CancellationToken): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (token.isCancellationRequested) {
    controller.abort();
    return { signal: controller.signal, dispose: () => undefined };
  }
  const listener = token.onCancellationRequested(() => controller.abort());
  return { signal: controller.signal, dispose: () => listener.dispose() };
}

/** Runs work with an AbortSignal that follows the token, and stops listening to the token once work settles. */
export async function withAbortSignal<T>(token: vscode.CancellationToken, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const bridge = abortSignalOf(token);
  try {
    return await work(bridge.signal);
  } finally {
    bridge.dispose();
  }
}
