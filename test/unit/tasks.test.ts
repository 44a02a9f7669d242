import * as assert from 'node:assert/strict';
import { extractCodeBlock, taskMessages } from '../../src/core/tasks/prompts';
import { decideRoute, type RouteFacts } from '../../src/core/tasks/route';

const facts = (over: Partial<RouteFacts> = {}): RouteFacts => ({
  kind: 'refactor', contextChars: 800, cloudConfigured: true, trusted: true, consent: 'granted', localAvailable: true, ...over,
});

describe('task routing (first policy)', () => {
  it('keeps light tasks local and sends heavy ones to the cloud when allowed', () => {
    assert.equal(decideRoute(facts({ kind: 'explain' })).route, 'local');
    assert.equal(decideRoute(facts({ kind: 'explain', contextChars: 10_000 })).route, 'cloud');
    assert.equal(decideRoute(facts()).route, 'cloud');
  });

  it('never sends code from an untrusted workspace, without consent, or without an endpoint', () => {
    assert.deepEqual([decideRoute(facts({ trusted: false })).route, decideRoute(facts({ trusted: false })).reason], ['local', 'heavy task, but this workspace is not trusted: code never leaves the machine']);
    assert.equal(decideRoute(facts({ consent: 'denied' })).route, 'local');
    assert.equal(decideRoute(facts({ cloudConfigured: false })).route, 'local');
    const ask = decideRoute(facts({ consent: 'unknown' }));
    assert.deepEqual([ask.route, ask.needsConsent], ['cloud', true]);
  });

  it('uses the cloud for a light task only when there is no local model', () => {
    assert.equal(decideRoute(facts({ kind: 'ask', localAvailable: false })).route, 'cloud');
    assert.equal(decideRoute(facts({ kind: 'ask', localAvailable: false, trusted: false })).route, 'local');
  });
});

describe('task prompts', () => {
  it('puts the code in a fenced block with the file and the instruction', () => {
    const m = taskMessages('refactor', { languageId: 'ts', filePath: 'src/a.ts', code: 'let x = 1', instruction: 'use const' });
    assert.equal(m[0].role, 'system');
    assert.match(m[1].content, /Refactor this code from src\/a\.ts: use const\.\n\n```ts\nlet x = 1\n```/);
  });

  it('extracts the replacement code from an answer', () => {
    assert.equal(extractCodeBlock('Here:\n```ts\nconst x = 1;\n```\nDone.'), 'const x = 1;');
    assert.equal(extractCodeBlock('```\na\n```\n```python\nlonger\nblock\n```'), 'longer\nblock');
    assert.equal(extractCodeBlock('no code here'), undefined);
  });
});
