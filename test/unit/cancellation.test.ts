// The CancellationToken -> AbortSignal bridge: the signal follows the token, and the listener it puts on the token
// is taken off again when the work is done (the old inline bridges left theirs on). A fake token counts listeners.
import * as assert from 'node:assert/strict';
import { abortSignalOf, withAbortSignal } from '../../src/vscode/cancellation';

class FakeToken {
  isCancellationRequested = false;
  readonly listeners = new Set<(e: unknown) => unknown>();
  readonly onCancellationRequested = (listener: (e: unknown) => unknown) => {
    this.listeners.add(listener);
    return {
      dispose: () => {
        this.listeners.delete(listener);
      },
    };
  };
  cancel(): void {
    this.isCancellationRequested = true;
    for (const l of [...this.listeners]) l(undefined);
  }
}

describe('cancellation token to AbortSignal', () => {
  it('aborts the signal when the token is cancelled, and stops listening on dispose', () => {
    const token = new FakeToken();
    const bridge = abortSignalOf(token);
    assert.equal(token.listeners.size, 1);
    assert.equal(bridge.signal.aborted, false);
    token.cancel();
    assert.equal(bridge.signal.aborted, true);
    bridge.dispose();
    assert.equal(token.listeners.size, 0);
  });

  it('gives an aborted signal, and adds no listener, for a token already cancelled', () => {
    const token = new FakeToken();
    token.cancel();
    const bridge = abortSignalOf(token);
    assert.equal(bridge.signal.aborted, true);
    assert.equal(token.listeners.size, 0);
    bridge.dispose();
  });

  it('withAbortSignal takes its listener off the token when the work resolves or throws', async () => {
    const token = new FakeToken();
    const seen = await withAbortSignal(token, async (signal) => {
      assert.equal(token.listeners.size, 1);
      token.cancel();
      return signal.aborted;
    });
    assert.equal(seen, true);
    assert.equal(token.listeners.size, 0);

    const live = new FakeToken();
    await assert.rejects(
      withAbortSignal(live, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(live.listeners.size, 0);
  });
});
