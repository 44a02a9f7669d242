import * as assert from 'node:assert/strict';
import { CompletionQuality, DAY_MS, describeQuality } from '../../src/core/completion/quality';

describe('completion quality over the last day', () => {
  it('counts shown and accepted suggestions and the median engine latency inside the window only', () => {
    const q = new CompletionQuality();
    const now = 10 * DAY_MS;
    q.shown(now - DAY_MS - 1); // a day and a moment ago: out
    q.accepted(now - DAY_MS - 1);
    q.latency(now - DAY_MS - 1, 5000);
    for (const [i, ms] of [120, 80, 300, 100].entries()) {
      q.latency(now - 1000 + i, ms);
      q.shown(now - 1000 + i);
    }
    q.accepted(now - 10);
    const s = q.summary(now);
    assert.deepEqual(s, { shown: 4, accepted: 1, acceptanceRate: 0.25, medianLatencyMs: 110, engineCalls: 4 });
    assert.equal(describeQuality(s), 'last 24 h: 4 suggestion(s) shown, 25% accepted, median engine latency 110 ms');
  });

  it('says when there is nothing yet, and never reports more accepted than shown', () => {
    const q = new CompletionQuality();
    assert.equal(describeQuality(q.summary(1000)), 'last 24 h: no suggestions yet');
    q.shown(500);
    q.accepted(600);
    q.accepted(700); // a suggestion accepted twice through typing-through continuations
    assert.equal(q.summary(1000).acceptanceRate, 1);
  });
});
