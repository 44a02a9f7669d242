// What of a file may leave the machine (src/core/cloud/outgoing.ts): secrets files are recognised by path, a .env
// loses every value (not only the ones that look like keys), a staged diff loses the changes to secrets files, and a
// chat's attached secrets file is found by its path.
import * as assert from 'node:assert/strict';
import { attachedPaths, redactDiff, redactFile, sensitiveKind, sensitiveReason } from '../../src/core/cloud/outgoing';
import { redactSecrets } from '../../src/core/cloud/redact';

// A realistic .env: 18 values, half of which look like nothing in particular (built at run time, so that no secret
// scanner takes this file for a leak).
const values = {
  DATABASE_URL: ['postgres://app:', 'Tr0ub4dor&3', '@db.internal:5432/app'].join(''),
  DB_PASSWORD: 'correct-horse-battery',
  REDIS_URL: ['redis://:', 'hunter2hunter2', '@cache:6379/0'].join(''),
  SESSION_SECRET: 'keyboard cat keyboard cat',
  JWT_SECRET: ['s3cr3t', '-jwt-', 'value-2026'].join(''),
  STRIPE_SECRET_KEY: ['sk_', 'live_', '51Hx9aQ2eZvKYlo2C8a7b6c5d4e3f2'].join(''),
  AWS_ACCESS_KEY_ID: ['AK', 'IA', 'ZXCVBNMASDFGHJKL'].join(''),
  AWS_SECRET_ACCESS_KEY: ['wJalrXUtnFEMI', '/K7MDENG/bPxRfiCYEXAMPLEKEY1'].join(''),
  SMTP_PASSWORD: 'mailpass123',
  ADMIN_EMAIL: 'ops@example.com',
  INTERNAL_API_BASE: 'https://billing.corp.internal/api',
  SENTRY_DSN: ['https://', 'abc123def456', '@o123.ingest.sentry.io/42'].join(''),
  GITHUB_TOKEN: ['gh', 'p_', 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'].join(''),
  OPENAI_API_KEY: ['sk-', 'proj-', 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed'].join(''),
  ENCRYPTION_KEY: '0123456789abcdef0123456789abcdef',
  LDAP_BIND_PASSWORD: '"spaces and # hash"',
  PRIVATE_NOTE: "'multi\nline value'",
  FEATURE_FLAGS_TOKEN: 'ff-2f1e',
};
const env = `# app settings\n${Object.entries(values)
  .map(([k, v]) => `${k}=${v}`)
  .join('\n')}\nexport NODE_ENV=production # not a secret, still a value\n`;
const bare = (v: string) => v.replace(/^["']|["']$/g, '');

describe('outgoing files', () => {
  it('knows secrets files by path, .env-style or key and credentials files, and leaves ordinary files alone', () => {
    for (const p of ['.env', 'config/.env.local', 'app/prod.env', '.npmrc', 'infra/prod.tfvars', 'C:\\repo\\.env.production'])
      assert.equal(sensitiveKind(p), 'env', p);
    for (const p of ['certs/server.key', 'id_ed25519', '.git-credentials', 'deploy/store.p12', '/home/u/.kube/config'])
      assert.equal(sensitiveKind(p), 'secrets-file', p);
    for (const p of ['src/env.ts', 'id_ed25519.pub', 'README.md', 'envelope.ts', 'keys.ts', 'environment.yml'])
      assert.equal(sensitiveKind(p), undefined, p);
    assert.match(sensitiveReason('config/.env.local')!, /^\.env\.local is an environment file/);
  });

  it('a .env sent whole loses all 18 values (redactSecrets alone lets half of them go) and keeps its keys and comments', () => {
    const leakedBySecrets = Object.values(values).filter((v) => redactSecrets(env).text.includes(bare(v)));
    assert.ok(leakedBySecrets.length >= 5, `the reason for redactFile: redactSecrets alone leaves ${leakedBySecrets.length} values`);
    const r = redactFile('config/.env', env);
    for (const [k, v] of Object.entries(values)) {
      for (const part of bare(v).split('\n')) assert.ok(!r.text.includes(part), `${k}: ${part} went out`);
      assert.ok(r.text.includes(`${k}=`), `${k} kept`);
    }
    assert.ok(!r.text.includes('production'));
    assert.ok(r.text.startsWith('# app settings\n'));
    // An ordinary file through redactFile is redactSecrets: code stays code.
    const code = 'export const retries = 3;\nconst url = `${base}/items`;\n';
    assert.equal(redactFile('src/items.ts', code).text, code);
  });

  it("a staged diff keeps every file's name but not the changes to secrets files", () => {
    const diff = [
      'diff --git a/src/app.ts b/src/app.ts',
      'index 1..2 100644',
      '--- a/src/app.ts',
      '+++ b/src/app.ts',
      '@@ -1 +1 @@',
      '-const a = 1;',
      '+const a = 2;',
      'diff --git a/.env.production b/.env.production',
      'index 3..4 100644',
      '--- a/.env.production',
      '+++ b/.env.production',
      '@@ -1 +1 @@',
      `-DB_PASSWORD=old-pass-1`,
      `+DB_PASSWORD=${values.DB_PASSWORD}`,
      'diff --git a/certs/old.key b/certs/new.key',
      'similarity index 100%',
      'rename from certs/old.key',
      'rename to certs/new.key',
      '',
    ].join('\n');
    const r = redactDiff(diff);
    assert.ok(r.text.includes('+const a = 2;'));
    assert.ok(
      r.text.includes(
        'diff --git a/.env.production b/.env.production\n(the changes to this file are left out: .env.production is an environment file',
      ),
    );
    assert.ok(!r.text.includes(values.DB_PASSWORD) && !r.text.includes('old-pass-1'));
    assert.ok(r.text.includes('diff --git a/certs/old.key b/certs/new.key\n(the changes'));
    assert.deepEqual(
      r.findings.map((f) => [f.kind, f.line]),
      [
        ['secrets-file', 8],
        ['secrets-file', 15],
      ],
    );
  });

  it('finds the files attached to a chat prompt by their path', () => {
    const prompt = `<attachment id="file:.env" filePath="/work/app/.env">\nKEY=1\n</attachment>\nWhy does this fail?\n\`\`\`ts\n// filepath: /work/app/src/a.ts\nconst a = 1;\n\`\`\``;
    assert.deepEqual(attachedPaths(prompt), ['/work/app/.env', '/work/app/src/a.ts']);
    assert.deepEqual(attachedPaths('no attachments, filePath= without quotes'), []);
  });
});
