// The worker's streamed text: batched per interval, flushed before the result, nothing lost or reordered.
import * as assert from 'node:assert/strict';
import { TextBatcher, type Schedule } from '../../src/engine/textBatcher';

describe('text batcher', () => {
  /** A clock the test moves: timers run only when it says. */
  function manual() {
    const due: { run: () => void; cancelled: boolean }[] = [];
    const schedule: Schedule = (run) => {
      const t = { run, cancelled: false };
      due.push(t);
      return { cancel: () => void (t.cancelled = true) };
    };
    const tick = () => {
      for (const t of due.splice(0)) if (!t.cancelled) t.run();
    };
    return { schedule, tick, pending: () => due.filter((t) => !t.cancelled).length };
  }

  it('sends the tokens of one interval as one message, in order', () => {
    const sent: string[] = [];
    const clock = manual();
    const b = new TextBatcher((t) => sent.push(t), 16, clock.schedule);
    b.push('con');
    b.push('st');
    b.push(' x');
    assert.deepEqual(sent, [], 'nothing before the interval ends');
    assert.equal(clock.pending(), 1, 'one timer for the batch');
    clock.tick();
    b.push(' =');
    clock.tick();
    assert.deepEqual(sent, ['const x', ' =']);
  });

  it('flushes what waits (before the result) and cancels the timer; an empty flush sends nothing', () => {
    const sent: string[] = [];
    const clock = manual();
    const b = new TextBatcher((t) => sent.push(t), 16, clock.schedule);
    b.flush();
    b.push('a');
    b.push('b');
    b.flush();
    assert.equal(clock.pending(), 0);
    clock.tick();
    b.flush();
    assert.deepEqual(sent, ['ab']);
  });
});
