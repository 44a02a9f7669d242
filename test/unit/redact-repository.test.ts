// False positives: the redactor over this repository's own code must find nothing, apart from the files that hold
// secrets on purpose (listed with the reason, and checked to still hold some, so the list cannot go stale).
// bench/redact.ts counts the findings over node_modules, which is too large and too variable for a test.
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { redactSecrets } from '../../src/core/cloud/redact';

const ROOTS = ['src', 'test', 'bench', 'scripts'];

const DELIBERATE: Record<string, string> = {
  'test/unit/redact.test.ts': "the redactor's own examples",
  'test/support/secretCorpus.ts': 'realistic samples of every format (built at run time, but their prefixes show)',
  'test/e2e/suite/security.test.ts': 'a fake cloud key that must never leave',
  'test/e2e/suite/tasks.test.ts': 'a fake cloud key that must never leave',
  'test/integration/carbon-sources.test.ts': 'WattTime credentials given to the carbon source',
  'test/integration/cli-carbon.test.ts': 'a token in a question, checked to be redacted',
  'test/integration/cloud-client.test.ts': "the cloud client's key",
  'test/integration/http-backends.test.ts': 'an API key for the HTTP backends',
  'test/unit/settings.test.ts': 'endpoint URLs with credentials, which settings refuse',
  'test/unit/outgoing.test.ts': 'a realistic .env, every value of which must be redacted',
};

/** Every text file under the roots, as repository-relative paths with forward slashes. */
function sourceFiles(): string[] {
  return ROOTS.flatMap((root) =>
    readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative('.', path.join(e.parentPath, e.name)).split(path.sep).join('/')),
  ).filter((f) => !readFileSync(f).includes(0));
}

function findingsIn(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (file.endsWith('.jsonl')) return jsonLinesFindings(file, lines);
  return redactSecrets(text).findings.map((f) => `${file}:${f.line} ${f.kind}: ${lines[f.line - 1]!.trim().slice(0, 120)}`);
}

/**
 * JSON Lines (the router's corpus) hold code inside JSON strings: scanned as that code, decoded, one record at a
 * time (the escaped form, with "\n" as two characters, runs one line's value into the next).
 */
function jsonLinesFindings(file: string, lines: readonly string[]): string[] {
  return lines.flatMap((line, i) => {
    if (line.trim() === '') return [];
    const strings = Object.values(JSON.parse(line) as Record<string, unknown>).filter((v): v is string => typeof v === 'string');
    return redactSecrets(strings.join('\n')).findings.map((f) => `${file}:${i + 1} ${f.kind}: ${line.slice(0, 120)}`);
  });
}

describe('redactSecrets: no false positives on this repository', () => {
  it('finds no secret in src/, test/, bench/ and scripts/, apart from the deliberate ones', () => {
    const files = sourceFiles().filter((f) => !(f in DELIBERATE));
    assert.ok(files.length > 100, `${files.length} files`);
    assert.deepEqual(files.flatMap(findingsIn), []);
  });

  it('each file listed as holding secrets on purpose still does', () => {
    for (const file of Object.keys(DELIBERATE)) assert.ok(findingsIn(file).length > 0, `${file}: ${DELIBERATE[file]}`);
  });
});
