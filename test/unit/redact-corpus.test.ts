// The redactor over realistic snippets that hold secrets (test/support/secretCorpus.ts): every secret value goes,
// the code around it stays. The formats here are those that went out before #16 item 4, and those it already knew.
import * as assert from 'node:assert/strict';
import { redactSecrets } from '../../src/core/cloud/redact';
import { secretSamples } from '../support/secretCorpus';

describe('redactSecrets: realistic samples', () => {
  const samples = secretSamples();

  for (const { name, text, secrets, kept } of samples) {
    it(name, () => {
      const r = redactSecrets(text);
      for (const s of secrets) assert.ok(!r.text.includes(s), `left in output: ${s}\n---\n${r.text}`);
      for (const k of kept) assert.ok(r.text.includes(k), `code lost: ${k}\n---\n${r.text}`);
      assert.ok(r.findings.length > 0);
    });
  }

  it('covers every secret value of every sample', () => {
    const values = samples.flatMap((s) => s.secrets);
    const left = samples.flatMap(({ text, secrets }) => {
      const out = redactSecrets(text).text;
      return secrets.filter((s) => out.includes(s));
    });
    assert.deepEqual(left, [], `${values.length - left.length} of ${values.length} secret values redacted`);
    assert.ok(samples.length >= 54, `${samples.length} samples`);
  });
});
