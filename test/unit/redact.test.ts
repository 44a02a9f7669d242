import * as assert from 'node:assert/strict';
import { isSensitivePath, redactEnvFile, redactSecrets } from '../../src/core/cloud/redact';
import { ALNUM, BASE32, BASE64, BASE64URL, HEX, seededChars } from '../support/fakeSecrets';
import { pathologicalInputs } from '../support/pathologicalText';

// Fake but correctly formatted secrets, built at run time so secret scanners do not flag this file.
const fake = (n: number, seed: number, alphabet = ALNUM) => seededChars(n, alphabet, seed);

const AWS_ID = 'AKIA' + fake(16, 1, BASE32);
const AWS_SECRET = fake(40, 2, BASE64);
const GHP = 'ghp_' + fake(36, 3);
const GHO = 'gho_' + fake(36, 4);
const GH_PAT = 'github_pat_11A' + fake(19, 5) + '_' + fake(59, 6);
const GLPAT = 'glpat-' + fake(20, 7, BASE64URL);
const SLACK = ['xoxb', '1234567890', '1234567890123', fake(24, 8)].join('-');
const STRIPE = 'sk_' + 'live_' + fake(24, 9);
const STRIPE_TEST = 'sk_' + 'test_' + fake(24, 10);
const OPENAI = 'sk-proj-' + fake(48, 11, BASE64URL) + 'T3BlbkFJ' + fake(20, 12);
const OPENAI_LEGACY = 'sk-' + fake(48, 13);
const ANTHROPIC = 'sk-ant-api03-' + fake(93, 14, BASE64URL) + '-' + fake(6, 15) + 'AA';
const GOOGLE = 'AIza' + 'Sy' + fake(33, 16, BASE64URL);
const AZURE_KEY = fake(86, 17, BASE64) + '==';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.' + fake(43, 18, BASE64URL);
const BEARER = fake(40, 19, BASE64URL);
const PASSWORD = 'Tr0ub4dor&3x';

function pem(label: string, lines = 6): string {
  const body = Array.from({ length: lines }, (_, i) => fake(64, 100 + i, BASE64)).join('\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
}

function kinds(r: { findings: { kind: string }[] }): string[] {
  return r.findings.map((f) => f.kind);
}

/** Redacts, then checks that none of `secrets` is left. */
function redacted(text: string, secrets: readonly string[]): ReturnType<typeof redactSecrets> {
  const r = redactSecrets(text);
  for (const s of secrets) assert.ok(!r.text.includes(s), `left in output: ${s}\n---\n${r.text}`);
  return r;
}

describe('redactSecrets: known token formats', () => {
  const cases: [string, string, string][] = [
    ['aws-access-key', AWS_ID, `aws_access_key_id = ${AWS_ID}`],
    ['github-token', GHP, `git clone https://${GHP}@github.com/acme/app.git`],
    ['github-token', GHO, `token = "${GHO}"`],
    ['github-token', GH_PAT, `gh auth login --with-token <<< ${GH_PAT}`],
    ['gitlab-token', GLPAT, `curl --header "PRIVATE-TOKEN: ${GLPAT}" https://gitlab.com/api/v4/projects`],
    ['slack-token', SLACK, `client = WebClient(${JSON.stringify(SLACK)})`],
    ['stripe-key', STRIPE, `stripe.api_key = '${STRIPE}'`],
    ['stripe-key', STRIPE_TEST, `const stripe = new Stripe('${STRIPE_TEST}');`],
    ['openai-key', OPENAI, `client = OpenAI(api_key="${OPENAI}")`],
    ['openai-key', OPENAI_LEGACY, `openai.api_key = "${OPENAI_LEGACY}"`],
    ['anthropic-key', ANTHROPIC, `const client = new Anthropic({ apiKey: '${ANTHROPIC}' });`],
    ['google-api-key', GOOGLE, `<script src="https://maps.googleapis.com/maps/api/js?key=${GOOGLE}"></script>`],
    [
      'azure-storage-key',
      AZURE_KEY,
      `conn = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=${AZURE_KEY};EndpointSuffix=core.windows.net"`,
    ],
    ['jwt', JWT, `localStorage.setItem('session', '${JWT}');`],
    ['bearer-token', BEARER, `curl -H "Authorization: Bearer ${BEARER}" https://api.example.com/v1/me`],
  ];
  for (const [kind, secret, line] of cases) {
    it(`${kind}: ${line.slice(0, 48)}…`, () => {
      const r = redacted(line, [secret]);
      assert.deepEqual(kinds(r), [kind]);
      assert.match(r.text, new RegExp(`\\[REDACTED:${kind}#1\\]`));
    });
  }

  it('an AWS secret key in an assignment is aws-secret-key, and the id beside it aws-access-key', () => {
    const r = redacted(`[default]\naws_access_key_id = ${AWS_ID}\naws_secret_access_key = ${AWS_SECRET}\n`, [AWS_ID, AWS_SECRET]);
    assert.deepEqual(r.findings, [
      { kind: 'aws-access-key', line: 2 },
      { kind: 'aws-secret-key', line: 3 },
    ]);
    assert.equal(r.text, '[default]\naws_access_key_id = [REDACTED:aws-access-key#1]\naws_secret_access_key = [REDACTED:aws-secret-key#1]\n');
  });

  it('Basic auth is redacted only when it decodes to user:password', () => {
    const basic = Buffer.from('deploy:' + PASSWORD).toString('base64');
    const r = redacted(`headers = {"Authorization": "Basic ${basic}"}`, [basic]);
    assert.deepEqual(kinds(r), ['basic-auth']);
    assert.equal(redactSecrets('Basic authentication is configured per realm').findings.length, 0);
  });
});

describe('redactSecrets: connection strings and URLs', () => {
  const cases: [string, string, string][] = [
    ['db-password', 'postgres://app:S3cr3tPw@db.internal:5432/app', 'postgres://app:[REDACTED:db-password#1]@db.internal:5432/app'],
    [
      'db-password',
      'mongodb+srv://admin:hK8s2LmQ@cluster0.ab1cd.mongodb.net/prod?retryWrites=true',
      'mongodb+srv://admin:[REDACTED:db-password#1]@cluster0.ab1cd.mongodb.net/prod?retryWrites=true',
    ],
    ['db-password', 'mysql://root:r00tpass@127.0.0.1:3306/shop', 'mysql://root:[REDACTED:db-password#1]@127.0.0.1:3306/shop'],
    ['db-password', 'redis://:Xy7pQ2rT9@cache:6379/0', 'redis://:[REDACTED:db-password#1]@cache:6379/0'],
    ['db-password', 'amqp://guest:w4bbit9@rabbitmq:5672/', 'amqp://guest:[REDACTED:db-password#1]@rabbitmq:5672/'],
    ['db-password', 'jdbc:postgresql://svc:Pg9pass1@db:5432/x', 'jdbc:postgresql://svc:[REDACTED:db-password#1]@db:5432/x'],
    [
      'url-password',
      'https://ci-bot:Zq81mmx2@nexus.acme.io/repository/npm/',
      'https://ci-bot:[REDACTED:url-password#1]@nexus.acme.io/repository/npm/',
    ],
  ];
  for (const [kind, input, expected] of cases) {
    it(`${input.split(':')[0]} keeps user and host`, () => {
      const r = redactSecrets(`DATABASE_URL="${input}"`);
      assert.equal(r.text, `DATABASE_URL="${expected}"`);
      assert.deepEqual(kinds(r), [kind]);
    });
  }

  it('leaves URLs without credentials, or with template credentials, alone', () => {
    for (const url of [
      'postgres://db.internal:5432/app',
      'https://user@example.com/x',
      'postgres://app:${DB_PASSWORD}@db/app',
      'git@github.com:acme/app.git',
    ]) {
      assert.equal(redactSecrets(url).text, url, url);
    }
  });
});

describe('redactSecrets: snippets by language', () => {
  it('Python', () => {
    const src = [
      'import os, boto3, psycopg2',
      '',
      `AWS_ACCESS_KEY_ID = "${AWS_ID}"`,
      `AWS_SECRET_ACCESS_KEY = "${AWS_SECRET}"`,
      'password = input("Password: ")',
      'token = get_token()',
      'api_key = os.environ["OPENAI_API_KEY"]',
      `conn = psycopg2.connect(host="db", user="app", password="${PASSWORD}")`,
      `db_password: str = "${PASSWORD}"`,
      'max_tokens = 512',
      'tokenizer = "bert-base-uncased"',
    ].join('\n');
    const r = redacted(src, [AWS_ID, AWS_SECRET, PASSWORD]);
    assert.deepEqual(r.findings, [
      { kind: 'aws-access-key', line: 3 },
      { kind: 'aws-secret-key', line: 4 },
      { kind: 'password', line: 8 },
      { kind: 'password', line: 9 },
    ]);
    assert.ok(r.text.includes('conn = psycopg2.connect(host="db", user="app", password="[REDACTED:password#1]")'));
    assert.ok(r.text.includes('db_password: str = "[REDACTED:password#1]"'), 'the same password gets the same placeholder');
    for (const kept of [
      'password = input("Password: ")',
      'token = get_token()',
      'api_key = os.environ["OPENAI_API_KEY"]',
      'max_tokens = 512',
      'tokenizer = "bert-base-uncased"',
    ]) {
      assert.ok(r.text.includes(kept), kept);
    }
  });

  it('TypeScript', () => {
    const src = [
      "import OpenAI from 'openai';",
      `const GITHUB_TOKEN = '${GHP}';`,
      `const client = new OpenAI({ apiKey: "${OPENAI}" });`,
      'const fromEnv = new OpenAI({ apiKey: process.env.OPENAI_API_KEY });',
      `const headers = { Authorization: \`Bearer \${token}\`, 'x-api-key': '${fake(32, 40)}' };`,
      'export function run(input: string, token: vscode.CancellationToken) {',
      '  const password: string = readPassword();',
      '  const apiKey = config.get<string>("apiKey");',
      '}',
    ].join('\n');
    const r = redacted(src, [GHP, OPENAI]);
    assert.deepEqual(r.findings, [
      { kind: 'github-token', line: 2 },
      { kind: 'openai-key', line: 3 },
      { kind: 'api-key', line: 5 },
    ]);
    assert.ok(r.text.includes('Authorization: `Bearer ${token}`'));
    assert.ok(r.text.includes('token: vscode.CancellationToken'));
    assert.ok(r.text.includes('apiKey: process.env.OPENAI_API_KEY'));
  });

  it('YAML (compose / Kubernetes)', () => {
    const src = [
      'services:',
      '  db:',
      '    environment:',
      '      POSTGRES_PASSWORD: Pg-s3cret-2024',
      '      POSTGRES_USER: app',
      '  api:',
      '    environment:',
      '      - DATABASE_URL=postgresql://app:Pg-s3cret-2024@db:5432/app',
      `      - SLACK_BOT_TOKEN=${SLACK}`,
      '      - GITHUB_TOKEN=${GITHUB_TOKEN}',
      '      - ADMIN_PASSWORD=changeme',
      'stringData:',
      `  client_secret: "${fake(32, 41)}"`,
      '  password: hunter2',
    ].join('\n');
    const r = redacted(src, ['Pg-s3cret-2024', SLACK]);
    assert.deepEqual(
      r.findings.map((f) => f.line),
      [4, 8, 9, 13],
    );
    assert.ok(r.text.includes('POSTGRES_PASSWORD: [REDACTED:password#1]'));
    assert.ok(r.text.includes('postgresql://app:[REDACTED:password#1]@db'), 'same value, same placeholder across kinds');
    assert.ok(r.text.includes('GITHUB_TOKEN=${GITHUB_TOKEN}'));
    assert.ok(r.text.includes('ADMIN_PASSWORD=changeme'));
    assert.ok(r.text.includes('password: hunter2'), 'short values stay');
  });

  it('JSON (a Google service-account key)', () => {
    const key = pem('PRIVATE KEY', 4).replace(/\n/g, '\\n');
    const src = JSON.stringify(
      {
        type: 'service_account',
        project_id: 'acme-prod',
        private_key_id: 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
        private_key: key + '\\n',
        client_email: 'ci@acme-prod.iam.gserviceaccount.com',
        client_id: '104238457204987432123',
      },
      null,
      2,
    ).replace(/\\\\n/g, '\\n');
    const r = redacted(src, [key.slice(40, 80)]);
    assert.deepEqual(r.findings, [{ kind: 'private-key', line: 5 }]);
    assert.ok(r.text.includes('"private_key": "[REDACTED:private-key#1]\\n"'));
    assert.ok(r.text.includes('a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'), 'private_key_id is an identifier');
  });

  it('JSON config with quoted keys', () => {
    const src = `{\n  "apiKey": "${GOOGLE}",\n  "clientSecret": "${fake(40, 42)}",\n  "password": "",\n  "token": "<token>",\n  "uuid": "123e4567-e89b-42d3-a456-426614174000"\n}`;
    const r = redacted(src, [GOOGLE]);
    assert.deepEqual(r.findings, [
      { kind: 'google-api-key', line: 2 },
      { kind: 'secret', line: 3 },
    ]);
    assert.ok(r.text.includes('"token": "<token>"'));
    assert.ok(r.text.includes('123e4567-e89b-42d3-a456-426614174000'));
  });

  it('shell', () => {
    const src = [
      '#!/usr/bin/env bash',
      `export GITHUB_TOKEN=${GHP}`,
      `export AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`,
      `export DB_PASSWORD='${PASSWORD}'`,
      'export NPM_TOKEN=$(cat ~/.npm-token)',
      'curl -H "Authorization: Bearer $API_TOKEN" https://api.acme.io',
      `mysql --password=${PASSWORD} -h db shop`,
    ].join('\n');
    const r = redacted(src, [GHP, AWS_SECRET, PASSWORD]);
    assert.deepEqual(
      r.findings.map((f) => [f.kind, f.line]),
      [
        ['github-token', 2],
        ['aws-secret-key', 3],
        ['password', 4],
        ['password', 7],
      ],
    );
    assert.ok(r.text.includes('export NPM_TOKEN=$(cat ~/.npm-token)'));
    assert.ok(r.text.includes('Bearer $API_TOKEN'));
    assert.ok(r.text.includes("export DB_PASSWORD='[REDACTED:password#1]'"));
    assert.ok(r.text.includes('mysql --password=[REDACTED:password#1] -h'));
  });

  it('Dockerfile', () => {
    const src = [
      'FROM node:20-slim',
      'ARG NPM_TOKEN',
      `ENV STRIPE_SECRET_KEY ${STRIPE}`,
      `ENV SENTRY_AUTH_TOKEN=${fake(64, 43, '0123456789abcdef')}`,
      'ENV API_KEY=${API_KEY}',
      'RUN npm ci',
    ].join('\n');
    const r = redacted(src, [STRIPE]);
    assert.deepEqual(
      r.findings.map((f) => [f.kind, f.line]),
      [
        ['stripe-key', 3],
        ['token', 4],
      ],
    );
    assert.ok(r.text.includes('ENV API_KEY=${API_KEY}'));
    assert.ok(r.text.includes('ARG NPM_TOKEN\n'));
  });
});

describe('redactSecrets: assignments in other languages and forms', () => {
  const cases: [string, string][] = [
    ["$config['password'] = 'Sup3rS3cret!';", "$config['password'] = '[REDACTED:password#1]';"],
    ["'password' => 'Sup3rS3cret!',", "'password' => '[REDACTED:password#1]',"],
    ['password := "Sup3rS3cret!"', 'password := "[REDACTED:password#1]"'],
    ['val password: String = "Sup3rS3cret!"', 'val password: String = "[REDACTED:password#1]"'],
    ['private const string ApiKey = "a1b2c3d4e5f6g7h8";', 'private const string ApiKey = "[REDACTED:api-key#1]";'],
    ['spring.datasource.password=Sup3rS3cret', 'spring.datasource.password=[REDACTED:password#1]'],
    ['Server=db;Database=app;User Id=sa;Password=Sup3rS3cret!;', 'Server=db;Database=app;User Id=sa;Password=[REDACTED:password#1];'],
    ['https://app.example.com/cb?access_token=abc123def456xyz&state=xyz', 'https://app.example.com/cb?access_token=[REDACTED:token#1]&state=xyz'],
    ["SECRET_KEY = 'django-insecure-9a8b7c6d5e4f3g2h1i'", "SECRET_KEY = '[REDACTED:secret#1]'"],
    ['HMAC_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'HMAC_KEY=[REDACTED:secret#1]'],
    // Weak names (key, salt) need a high-entropy value.
    ['key = "a8f5f167f44f4964e6c998dee827110c"', 'key = "[REDACTED:secret#1]"'],
    ['salt = "Qm9vbGVhbjEyMzQ1Njc4OTA"', 'salt = "[REDACTED:secret#1]"'],
    ['aws_secret = "' + AWS_SECRET + '"', 'aws_secret = "[REDACTED:aws-secret-key#1]"'],
    // People make passwords of words: the guards for names and member paths leave them secret.
    ['password = "SummerVacation"', 'password = "[REDACTED:password#1]"'],
    ['password: john.doe-1985', 'password: [REDACTED:password#1]'],
    ['client_secret: "MySecretValue"', 'client_secret: "[REDACTED:secret#1]"'],
  ];
  for (const [input, expected] of cases) it(input, () => assert.equal(redactSecrets(input).text, expected));

  it('leaves versions, setting ids, low-entropy weak values and pagination alone', () => {
    for (const line of [
      '"jsonwebtoken": "^9.0.0"',
      "const EM_TOKEN = 'verdant.carbon.electricityMapsToken';",
      'salt = "pepper"',
      'key = "user-profile-cache"',
      'sessionKey: "file:///a.txt"',
      'bypass = "something123"',
      "kind = ok ? 'db-password' : 'url-password-2024'",
    ]) {
      assert.equal(redactSecrets(line).text, line, line);
    }
  });
});

describe('redactSecrets: pathological input', () => {
  // Tens of milliseconds when linear, minutes with catastrophic backtracking or a rescan from every position;
  // bench/redact.ts measures the time and how it grows when the input doubles. Here: the answer only.
  for (const { name, text, holdsSecrets } of pathologicalInputs()) {
    it(`${name} (${text.length.toLocaleString('en')} characters): ${holdsSecrets ? 'redacted' : 'left as it was'}`, () => {
      const r = redactSecrets(text);
      assert.equal(r.findings.length > 0, holdsSecrets, `${r.findings.length} finding(s)`);
      if (holdsSecrets) assert.notEqual(r.text, text);
      else assert.equal(r.text, text);
    });
  }

  it("'token=' repeated is redacted nearly whole, in values of at most 4 KB", () => {
    const text = 'token='.repeat(200_000);
    const r = redactSecrets(text);
    assert.ok(r.text.length < text.length / 100, `${r.text.length} characters left`);
    assert.ok(r.findings.length >= text.length / 4096, `${r.findings.length} findings`);
  });
});

describe('redactSecrets: PEM private keys', () => {
  for (const label of ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'DSA PRIVATE KEY']) {
    it(`removes a whole ${label} block and keeps later line numbers right`, () => {
      const block = pem(label);
      const src = `# deploy key\nKEY = """\n${block}\n"""\npassword = "${PASSWORD}"\n`;
      const r = redactSecrets(src);
      assert.equal(r.text, `# deploy key\nKEY = """\n[REDACTED:private-key#1]\n"""\npassword = "[REDACTED:password#1]"\n`);
      assert.ok(!r.text.includes('-----'));
      assert.deepEqual(r.findings, [
        { kind: 'private-key', line: 3 },
        { kind: 'password', line: 12 },
      ]);
    });
  }

  it('redacts to the end when the window cuts the block off', () => {
    const cut = pem('OPENSSH PRIVATE KEY').split('\n').slice(0, 4).join('\n');
    const r = redactSecrets(`const key = \`\n${cut}`);
    assert.equal(r.text, 'const key = `\n[REDACTED:private-key#1]');
  });

  it('keeps public keys and certificates', () => {
    const cert = pem('CERTIFICATE');
    assert.equal(redactSecrets(cert).text, cert);
  });
});

describe('redactSecrets: placeholders', () => {
  it('the same secret gets the same placeholder; different secrets of a kind are numbered', () => {
    const other = 'ghp_' + fake(36, 50);
    const src = `a = "${GHP}"\nb = "${other}"\nc = "${GHP}"`;
    const r = redactSecrets(src);
    assert.equal(r.text, 'a = "[REDACTED:github-token#1]"\nb = "[REDACTED:github-token#2]"\nc = "[REDACTED:github-token#1]"');
    assert.deepEqual(
      r.findings.map((f) => f.line),
      [1, 2, 3],
    );
  });

  it('is idempotent: redacting redacted text changes nothing', () => {
    const src = `TOKEN=${GHP}\npassword = "${PASSWORD}"\nurl = "postgres://u:${PASSWORD}@h/db"\n${pem('RSA PRIVATE KEY')}`;
    const once = redactSecrets(src);
    const twice = redactSecrets(once.text);
    assert.equal(twice.text, once.text);
    assert.equal(twice.findings.length, 0);
  });

  it('extraValues are redacted wherever they appear', () => {
    const mine = 'scw-' + fake(30, 60);
    const r = redactSecrets(`// debugging: ${mine}\nlog(${JSON.stringify(mine)})`, { extraValues: [mine, 'abc'] });
    assert.equal(r.text, '// debugging: [REDACTED:known-secret#1]\nlog("[REDACTED:known-secret#1]")');
    assert.deepEqual(r.findings, [
      { kind: 'known-secret', line: 1 },
      { kind: 'known-secret', line: 2 },
    ]);
  });
});

describe('redactSecrets: ordinary code stays intact', () => {
  const untouched = [
    'password = input()',
    'password = getpass.getpass("Password: ")',
    'token = getToken()',
    'const token = await auth.getToken();',
    'API_KEY = "YOUR_API_KEY"',
    'api_key: xxx',
    'token: <token>',
    'PASSWORD=changeme',
    'SECRET_KEY=${SECRET_KEY}',
    'const apiKey = process.env.OPENAI_API_KEY;',
    'secret = os.getenv("APP_SECRET")',
    'password = ""',
    'token = "abc"',
    'pwd = "/home/user"',
    'request_id = "123e4567-e89b-42d3-a456-426614174000"',
    'commit = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"',
    'key = "123e4567-e89b-42d3-a456-426614174000"',
    'cacheKey = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"',
    'if (password !== confirmPassword) return;',
    'interface Options { token: string; apiKey?: string }',
    // Optional types: Swift, Kotlin and C# mark them with a trailing ?.
    'private var token: AuthToken?',
    'val sessionToken: TokenPair? = null',
    'const errors = { password: "Password is required" };',
    'label: "Password"',
    'model = AutoModelForCausalLM.from_pretrained(name, token=hf_token)',
    'const sk = "sk-learn-compatible-estimator-wrapper";',
    'max_tokens: 2048',
    'TOKEN_ENV = "GITHUB_TOKEN"',
    'password_file = "/run/secrets/db_password"',
    'Bearer tokens are sent in the Authorization header.',
    'api_key = "sk-..."',
    'secret: "{{ .Values.secret }}"',
    // Found in node_modules before #16 item 4: indexes, generics, constants and names that name themselves.
    'const token = tokens[i];',
    'const token = tokens[current++];',
    'const nextDocumentToken = documentTokens[i + 1];',
    'getLoc(nodeOrToken: Options["SyntaxElementWithLoc"]): SourceLocation;',
    'export type ClientCredential = OAuth2TokenCredential<OAuth2Flow> | BasicCredential;',
    'idToken: idToken?.secret || "",',
    'length:0,token:t.tokens.length-1,end:-1',
    "'Authorization': type1msg",
    'submitPassword: SIGN_IN_V2_SUBMIT_PASSWORD,',
    'exports.computeSha256Hmac = computeSha256Hmac;',
    'var key = insertZerosEvery7Bits(buf);',
    "const keyValue = crypto.randomBytes(16).toString('base64')",
    'export const ACCESS_TOKEN = "access_token";',
    'const unableToLoadToken = "unable_to_load_token";',
    'ID_TOKEN: "IdToken",',
    'AUTHORIZATION: "authorization",',
    "const USE_CREDENTIALS = 'use-credentials'",
    "credentials: 'include',",
    'userAssertionToken: "access-token",',
    'customHeaders["x-ms-continuationtoken"] = "continuationToken";',
    'type ArrowToken = ArrowToken$1;',
    'var _keyStr = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";',
    "PWD: '/Users/maciej',",
    "'x:/resource?key=value%23still-query#first'",
    '* // Prints https://abc:xyz@example.com/',
    '* the PEM encoded private key (string should contain -----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY----- )',
    // Near-misses of the formats that need no name.
    'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
    'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
    '<xsd:element name="AgencyIdentificationCode" type="clm12345:AgencyIdentificationCodeContentType"/>',
    'curl -u deploy https://nexus.example.com/',
    'curl -u "$NEXUS_USER:$NEXUS_PASSWORD" https://nexus.example.com/',
    "curl --user 'admin:password' http://localhost:8080/",
    'curl -A agent --user-agent ua:1.0 https://example.com/',
    'r = requests.get(url, auth=(user, os.environ["API_PASSWORD"]))',
    "requests.get(url, auth=('user', 'pass'))",
  ];
  for (const line of untouched) {
    it(line, () => {
      const r = redactSecrets(line);
      assert.equal(r.text, line);
      assert.deepEqual(r.findings, []);
    });
  }

  it('digests stay: a 64-hex value named as a hash, after sha256:, in a sha256sum line, alone on a comment line, after 0x', () => {
    const hex = fake(64, 70, HEX);
    const lines = [
      `sha256: '${hex}'`,
      `checksum = "${hex}"`,
      `assert.equal(p.sha256, '${hex}');`,
      `FROM node:20-slim@sha256:${hex}`,
      `${hex}  stories260K.gguf`,
      ` * //   ${hex}`,
      `const slot = '0x${hex}';`,
      `commit_sha: ${hex}`,
    ];
    for (const line of lines) assert.equal(redactSecrets(line).text, line, line);
  });

  it('a 32-hex value without a Twilio SID beside it, and a 40-character token without an AWS key id, stay', () => {
    for (const line of [`etag = "${fake(32, 71, HEX)}"`, `const blob = '${fake(40, 72, BASE64)}';`])
      assert.equal(redactSecrets(line).text, line, line);
  });

  it('a PEM header without a key body is skipped, and a key after it is still found', () => {
    const src = `// Paste your key (-----BEGIN PRIVATE KEY----- …) below.\nconst key = \`${pem('PRIVATE KEY')}\`;\n`;
    const r = redactSecrets(src);
    assert.deepEqual(r.findings, [{ kind: 'private-key', line: 2 }]);
    assert.ok(r.text.startsWith('// Paste your key (-----BEGIN PRIVATE KEY----- …) below.\n'));
  });
});

describe('redactEnvFile', () => {
  it('redacts every value, keeps keys, comments and blank lines, and sees secrets in comments', () => {
    const src = [
      '# app settings',
      'NODE_ENV=production',
      'PORT=3000',
      '',
      `DATABASE_URL="postgres://app:${PASSWORD}@db:5432/app"`,
      'export STRIPE_KEY=' + STRIPE,
      'EMPTY=',
      `# old token: ${GHP}`,
      'MULTI="line one',
      'line two"',
      'AFTER=value # trailing comment',
    ].join('\n');
    const r = redactEnvFile(src);
    assert.equal(
      r.text,
      [
        '# app settings',
        'NODE_ENV=[REDACTED:env-value#1]',
        'PORT=[REDACTED:env-value#2]',
        '',
        'DATABASE_URL="[REDACTED:env-value#3]"',
        'export STRIPE_KEY=[REDACTED:secret#1]',
        'EMPTY=',
        '# old token: [REDACTED:github-token#1]',
        'MULTI="[REDACTED:env-value#4]"',
        'AFTER=[REDACTED:env-value#5] # trailing comment',
      ].join('\n'),
    );
    assert.deepEqual(
      r.findings.map((f) => f.line),
      [2, 3, 5, 6, 8, 9, 11],
    );
  });

  it('names the kind from the key when it looks secret', () => {
    const r = redactEnvFile(`DB_PASSWORD=x\nOPENAI_API_KEY='${OPENAI}'\n`);
    assert.equal(r.text, "DB_PASSWORD=[REDACTED:password#1]\nOPENAI_API_KEY='[REDACTED:api-key#1]'\n");
  });
});

describe('isSensitivePath', () => {
  const yes = [
    '.env',
    '.env.local',
    '.envrc',
    '.env.production',
    'config/.env.example',
    'prod.env',
    'C:\\proj\\.env',
    'certs/server.pem',
    'tls.key',
    '/home/me/.ssh/id_rsa',
    'id_ed25519',
    'id_rsa_github',
    'store.p12',
    'cert.PFX',
    '/home/me/.aws/credentials',
    'credentials.json',
    'secrets.yaml',
    'secrets.json',
    '.npmrc',
    '.pypirc',
    '.netrc',
    'kubeconfig',
    '/home/me/.kube/config',
    'prod.tfvars',
    'x.tfvars.json',
  ];
  const no = [
    'src/env.ts',
    'environment.ts',
    'id_rsa.pub',
    'keyboard.ts',
    'src/secretsManager.ts',
    'README.md',
    'package.json',
    'docs/credentials-guide.md.txt/x.ts',
    'monkey.ts',
  ];
  for (const p of yes) it(`sensitive: ${p}`, () => assert.equal(isSensitivePath(p), true));
  for (const p of no) it(`ordinary: ${p}`, () => assert.equal(isSensitivePath(p), false));
});
