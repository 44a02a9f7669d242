// Hardening: every setting that package.json contributes, fed every wrong JSON type and absurd values through the
// typed reader (src/core/settings.ts). The keys come from the manifest, so a new setting without validation (or
// without valid examples here) fails this file. Also: the settings that choose what runs or where code goes can
// never come from a repository's .vscode/settings.json (scope machine or application).
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_SETTINGS, readSettings, type SettingProblem } from '../../src/core/settings';

interface Property {
  readonly type: string | string[];
  readonly default: unknown;
  readonly scope?: string;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly items?: { readonly type?: string };
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const properties: Record<string, Property> = pkg.contributes.configuration.properties;
const KEYS = Object.keys(properties);

/** 'verdant.local.gpu' -> 'local.gpu', the key the reader asks for. */
const short = (key: string) => key.replace(/^verdant\./, '');
const valueAt = (o: unknown, key: string): unknown =>
  short(key)
    .split('.')
    .reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], o);
const show = (v: unknown): string => {
  if (typeof v === 'string') return v.length > 40 ? `"${v.slice(0, 20)}…" (${v.length} chars)` : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v) ?? String(v);
};

function readOne(key: string, value: unknown) {
  return readSettings((k) => (k === short(key) ? value : undefined));
}

// Valid values of the free-text settings (the enum, boolean, number and list settings get theirs from the manifest).
// A new free-text setting needs an entry here: its valid values are not something a test can guess.
const VALID_TEXT: Record<string, readonly string[]> = {
  'verdant.local.modelPath': ['/home/me/models/qwen2.5-coder-1.5b-q8_0.gguf', 'C:\\models\\model.GGUF', '\\\\server\\share\\m.gguf'],
  'verdant.local.serverUrl': [
    'http://127.0.0.1:11434',
    'http://localhost:1234/v1',
    'https://llm.example.com/v1',
    'http://172.28.64.1:11434',
    'http://host.docker.internal:11434',
  ],
  'verdant.local.serverModel': ['qwen2.5-coder:1.5b-base', 'mlx-community/Qwen2.5-Coder-1.5B-4bit'],
  'verdant.planner.modelPath': ['/home/me/models/qwen2.5-coder-3b-instruct-q4_k_m.gguf', 'C:\\models\\Phi-3.5-mini-instruct.GGUF'],
  'verdant.planner.serverUrl': ['http://127.0.0.1:11434', 'https://llm.example.com/v1', 'http://172.28.64.1:11434'],
  'verdant.planner.serverModel': ['qwen2.5-coder:3b-instruct', 'gemma-2-2b-it'],
  'verdant.cloud.endpoint': ['https://api.scaleway.ai/v1', 'http://127.0.0.1:8080/v1'],
  'verdant.cloud.model': ['mistral-small-3.1-24b-instruct-2503', 'qwen-coder'],
  'verdant.cloud.zone': ['SE', 'NO', 'CH', 'aws:eu-north-1'],
  'verdant.cloud.modelParams': ['32', '235/22', '7.6', '32B', '235B/22B', 'qwen3-32b'],
  'verdant.carbon.zone': ['FR', 'SE-SE3', 'US-CAL-CISO', 'aws:eu-north-1', 'CAISO_NORTH'],
  'verdant.carbon.postcode': ['RG41', 'SW1A'],
  'verdant.carbon.carbonAwareSdkUrl': ['https://carbon.example.com', 'http://localhost:5073'],
};

// Free-text values each free-text setting must refuse, beyond the absurd values every setting refuses.
const INVALID_TEXT: Record<string, readonly string[]> = {
  'verdant.local.modelPath': ['models/x.gguf', '/home/me/model.bin'],
  'verdant.local.serverUrl': ['http://203.0.113.7:11434', 'http://llm.example.com/v1', 'http://100.100.1.2:11434', 'ollama', 'ftp://127.0.0.1/'],
  'verdant.planner.modelPath': ['instruct.gguf', '/home/me/model.bin'],
  'verdant.planner.serverUrl': ['http://203.0.113.7:11434', 'http://llm.example.com/v1', 'ollama'],
  'verdant.cloud.endpoint': [
    'http://10.0.0.8:8080/v1',
    'http://host.docker.internal:8080/v1',
    'https://user:pw@api.example.com/v1',
    'https://api.example.com/v1?api_key=sk-1',
  ],
  'verdant.cloud.zone': ['X', 'SE;rm -rf', 'a b'],
  'verdant.cloud.modelParams': ['big', '22/235', '0', '-32', '32 GB'],
  'verdant.carbon.zone': ['X', 'FR;rm -rf', 'a b'],
  'verdant.carbon.postcode': ['RG41 1AA extra', '12345'],
  'verdant.carbon.carbonAwareSdkUrl': ['http://carbon.example.com', 'http://192.168.1.20:5073', 'carbon'],
};

/** One value of every JSON type (null aside), to pick the wrong ones from. */
const BY_TYPE: Record<string, readonly unknown[]> = {
  boolean: [true, false],
  number: [0, 1, 7.5],
  string: ['true', '1', 'auto'],
  array: [[], ['x'], [1, 2]],
  object: [{}, { value: 1 }],
};

/** Absurd values every setting must survive: bad numbers, empty, huge, and a path with a NUL in it. */
const ABSURD: readonly unknown[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -1,
  1e12,
  -0.5,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  'x'.repeat(10_000),
  '/models/evil\u0000.gguf',
  'line one\nline two',
  ['a'.repeat(10_000)],
  ['ok', 5],
  [null],
  { length: 1, 0: 'x' },
];

function typeOf(p: Property): string {
  const t = Array.isArray(p.type) ? p.type.filter((x) => x !== 'null') : [p.type];
  assert.equal(t.length, 1, `one type per setting, got ${JSON.stringify(p.type)}`);
  return t[0] === 'integer' ? 'number' : t[0]!;
}

function jsonType(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
}

/** Whether `value` is a valid value for the setting, by the manifest's own schema (plus the rules listed above). */
function validByManifest(key: string, p: Property, value: unknown): boolean {
  const type = typeOf(p);
  if (jsonType(value) !== type) return false;
  if (type === 'boolean') return true;
  if (type === 'number') {
    const n = value as number;
    if (!Number.isFinite(n)) return false;
    if (p.type === 'integer' && !Number.isInteger(n)) return false;
    return n >= (p.minimum ?? -Infinity) && n <= (p.maximum ?? Infinity);
  }
  if (type === 'string') {
    if (p.enum) return p.enum.includes(value as string);
    if (value === '') return p.default === '';
    return (VALID_TEXT[key] ?? []).includes(value as string);
  }
  if (type === 'array') return false; // the absurd lists above are all refused; valid lists are checked separately
  return false;
}

/** Valid values of a setting: its default, every enum choice, both bounds, and the examples above. */
function validValues(key: string, p: Property): unknown[] {
  const type = typeOf(p);
  const values: unknown[] = [p.default];
  if (type === 'boolean') values.push(true, false);
  if (p.enum) values.push(...p.enum);
  if (type === 'number') {
    if (p.minimum !== undefined) values.push(p.minimum);
    if (p.maximum !== undefined) values.push(p.maximum);
    if (p.minimum !== undefined && p.maximum !== undefined) values.push(Math.floor((p.minimum + p.maximum) / 2));
    if (p.type === 'number') values.push((p.minimum ?? 0) + 0.5);
  }
  if (type === 'string' && !p.enum) {
    assert.ok(VALID_TEXT[key], `${key} is a free-text setting: add its valid values to VALID_TEXT (and its invalid ones to INVALID_TEXT)`);
    values.push(...VALID_TEXT[key]);
  }
  if (type === 'array') {
    assert.equal(p.items?.type, 'string', `${key}: only lists of text are expected`);
    values.push(['typescript', 'markdown'], ['**/*.env', 'secrets/**']);
  }
  return values;
}

function assertOneProblem(key: string, value: unknown, problems: readonly SettingProblem[]): void {
  const what = `${key} = ${show(value)}`;
  assert.equal(problems.length, 1, `${what}: expected exactly one problem, got ${JSON.stringify(problems.map((p) => p.message.slice(0, 200)))}`);
  const [problem] = problems;
  assert.ok(problem);
  assert.equal(problem.key, key, what);
  assert.ok(problem.message.startsWith(key), `${what}: the message names the key: ${problem.message.slice(0, 200)}`);
  // The fix: what the value must be, or what to do instead.
  assert.match(problem.message, /\b(must|use|using|remove|set|choose)\b/, `${what}: the message names the fix`);
  // Clear: one line, no control characters, and not the 10,000 characters it was given back.
  assert.ok(problem.message.length <= 400, `${what}: a ${problem.message.length}-character message`);
  assert.doesNotMatch(problem.message, /[\u0000-\u001f\u007f]/, `${what}: control characters in the message`);
}

describe('hardening: every setting against wrong types and absurd values', () => {
  it('enumerates the settings from package.json (verdant.* only), each with one JSON type', () => {
    assert.ok(KEYS.length >= 20, `${KEYS.length} settings`);
    for (const key of KEYS) {
      assert.match(key, /^verdant\.[a-zA-Z]+(\.[a-zA-Z]+)*$/);
      assert.ok(['boolean', 'number', 'string', 'array'].includes(typeOf(properties[key]!)), `${key}: ${typeOf(properties[key]!)}`);
      assert.deepEqual(valueAt(DEFAULT_SETTINGS, key), properties[key]!.default, `${key}: the reader's default is the manifest's`);
    }
  });

  for (const key of KEYS) {
    describe(key, () => {
      const p = properties[key]!;

      it('accepts its valid values: the default, each choice, the bounds, the examples', () => {
        for (const value of validValues(key, p)) {
          const { settings, problems } = readOne(key, value);
          assert.deepEqual(problems, [], `${key} = ${show(value)}`);
          const read = valueAt(settings, key);
          // Free text is trimmed and URLs normalised, so only "it was kept" is checked for those.
          if (typeof value === 'string' && !p.enum)
            assert.ok(typeof read === 'string' && (read !== '') === (value !== ''), `${key} = ${show(value)} is used`);
          else assert.deepEqual(read, value, `${key} = ${show(value)} is used`);
        }
      });

      it('treats null and undefined as unset: the default, no problem', () => {
        for (const value of [null, undefined]) {
          const { settings, problems } = readOne(key, value);
          assert.deepEqual(problems, [], `${key} = ${value}`);
          assert.deepEqual(settings, DEFAULT_SETTINGS);
        }
      });

      it('refuses every wrong JSON type: the default, and one problem that names the key and the fix', () => {
        const type = typeOf(p);
        const wrong = Object.entries(BY_TYPE)
          .filter(([t]) => t !== type)
          .flatMap(([, vs]) => vs);
        assert.ok(wrong.length >= 8);
        for (const value of wrong) {
          let result: ReturnType<typeof readSettings> | undefined;
          assert.doesNotThrow(
            () => {
              result = readOne(key, value);
            },
            `${key} = ${show(value)}`,
          );
          assert.deepEqual(result!.settings, DEFAULT_SETTINGS, `${key} = ${show(value)}: the default is used`);
          assertOneProblem(key, value, result!.problems);
        }
      });

      it('refuses absurd values (NaN, ±Infinity, -1, 1e12, empty, 10,000 characters, NUL, newlines) without throwing', () => {
        const invalid = [...ABSURD, ...(INVALID_TEXT[key] ?? [])];
        for (const value of invalid) {
          let result: ReturnType<typeof readSettings> | undefined;
          assert.doesNotThrow(
            () => {
              result = readOne(key, value);
            },
            `${key} = ${show(value)}`,
          );
          const { settings, problems } = result!;
          if (validByManifest(key, p, value) || (value === '' && p.default === '')) {
            assert.deepEqual(problems, [], `${key} = ${show(value)} is valid`);
            continue;
          }
          assert.deepEqual(settings, DEFAULT_SETTINGS, `${key} = ${show(value)}: the default is used`);
          assertOneProblem(key, value, problems);
        }
      });

      if (typeOf(p) === 'number') {
        it('refuses one past each bound, and a fraction where a whole number is asked for', () => {
          const bad = [
            ...(p.minimum !== undefined ? [p.minimum - 1] : []),
            ...(p.maximum !== undefined ? [p.maximum + 1] : []),
            ...(p.type === 'integer' ? [(p.minimum ?? 0) + 0.5] : []),
          ];
          assert.ok(bad.length >= 2, `${key} declares its bounds in package.json`);
          for (const value of bad) assertOneProblem(key, value, readOne(key, value).problems);
        });
      }
    });
  }

  it('gives exactly one problem per invalid key when every setting is wrong at once, and keeps the defaults', () => {
    const values: Record<string, unknown> = {};
    for (const key of KEYS) values[short(key)] = typeOf(properties[key]!) === 'string' ? 12 : 'not-this-type';
    const { settings, problems } = readSettings((k) => values[k]);
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.deepEqual(problems.map((p) => p.key).sort(), [...KEYS].sort());
  });

  it('survives a reader that returns odd objects: frozen, prototype-less, with a throwing toString', () => {
    const odd = [
      Object.freeze(['x']),
      Object.create(null),
      {
        toString() {
          throw new Error('no');
        },
      },
      new Date(0),
      /re/,
    ];
    for (const value of odd) {
      for (const key of KEYS) {
        let r: ReturnType<typeof readSettings> | undefined;
        assert.doesNotThrow(() => {
          r = readOne(key, value);
        }, `${key}`);
        if (!Array.isArray(value)) assert.equal(r!.problems.length, 1, key);
      }
    }
  });
});

describe('hardening: a repository cannot choose what runs or where code goes', () => {
  // VS Code ignores machine- and application-scoped settings in a workspace's .vscode/settings.json.
  const SENSITIVE = /endpoint|url|path|model|backend|command|routing\.mode/i;

  it('scopes every setting whose name is about an endpoint, URL, path, model, backend or command to machine or application', () => {
    const sensitive = KEYS.filter((k) => SENSITIVE.test(k));
    assert.ok(sensitive.length >= 8, sensitive.join(', '));
    for (const key of sensitive) {
      assert.ok(
        ['machine', 'application'].includes(properties[key]!.scope ?? ''),
        `${key} has scope ${properties[key]!.scope ?? '(none: window)'}; a workspace could set it`,
      );
    }
  });

  it('keeps cloud consent application-scoped and every cloud and local setting out of workspaces', () => {
    assert.equal(properties['verdant.cloud.enable']!.scope, 'application');
    for (const key of KEYS.filter((k) => /^verdant\.(cloud|local)\./.test(k))) {
      assert.ok(['machine', 'application'].includes(properties[key]!.scope ?? ''), key);
    }
    // No sensitive setting may be restricted-only: untrusted workspaces must not be able to set them either.
    assert.deepEqual(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations, []);
  });
});
