// Waiting in the tests (integration and e2e): poll until something holds, with a limit that only catches a hang.
// Test processes, workers and the workbench share a machine that may be busy, so the limit is a minute, not the
// second or two an idle machine takes.
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something truthy, and returns that; throws naming `what` after `ms`. */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 60_000,
  everyMs = 50,
): Promise<T> {
  for (const end = performance.now() + ms; ; ) {
    const v = await probe();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(everyMs);
  }
}
