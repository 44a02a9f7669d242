import * as assert from 'node:assert/strict';
import { EFFICIENCY_MODES, enginePriority } from '../../src/core/power/efficiency';
import { ROUTING_MODES } from '../../src/core/routing/policy';
import { checkEndpoint, DEFAULT_SETTINGS, readSettings, tightened, TIGHTEN_ONLY } from '../../src/core/settings';

const reader = (values: Record<string, unknown>) => (key: string) => values[key];

describe('settings', () => {
  it('uses the defaults when nothing is set', () => {
    const { settings, problems } = readSettings(reader({}));
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.deepEqual(problems, []);
  });

  it('accepts valid values', () => {
    const { settings, problems } = readSettings(
      reader({
        enable: false,
        'local.modelPath': 'C:\\models\\qwen2.5-coder-1.5b-q8_0.gguf',
        'local.gpu': 'vulkan',
        'local.threads': 6,
        'local.backend': 'ollama',
        'local.serverUrl': 'http://127.0.0.1:11434',
        'local.serverModel': 'qwen2.5-coder:1.5b-base',
        'cloud.enable': true,
        'cloud.endpoint': 'https://api.example.com/v1/',
        'cloud.model': ' qwen-coder ',
      }),
    );
    assert.deepEqual(problems, []);
    assert.equal(settings.enable, false);
    assert.equal(settings.local.gpu, 'vulkan');
    assert.equal(settings.local.threads, 6);
    assert.equal(settings.local.backend, 'ollama');
    assert.equal(settings.local.serverUrl, 'http://127.0.0.1:11434');
    assert.equal(settings.local.serverModel, 'qwen2.5-coder:1.5b-base');
    assert.equal(settings.local.modelPath, 'C:\\models\\qwen2.5-coder-1.5b-q8_0.gguf');
    assert.equal(settings.cloud.endpoint, 'https://api.example.com/v1', 'trailing slash trimmed');
    assert.equal(settings.cloud.model, 'qwen-coder');
  });

  it('falls back to the default and names the fix for each bad value', () => {
    const { settings, problems } = readSettings(
      reader({
        enable: 'yes',
        'local.gpu': 'rocm',
        'local.threads': 2.5,
        'local.modelPath': 'models/x.gguf',
        'cloud.endpoint': 'http://10.0.0.8:8080/v1',
      }),
    );
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.deepEqual(
      problems.map((p) => p.key),
      ['verdant.enable', 'verdant.local.modelPath', 'verdant.local.gpu', 'verdant.local.threads', 'verdant.cloud.endpoint'],
    );
    assert.match(problems[0]!.message, /must be true or false, not "yes"; using true/);
    assert.match(problems[1]!.message, /absolute path/);
    assert.match(problems[2]!.message, /one of auto, vulkan, cuda, metal, cpu, not "rocm"/);
    assert.match(problems[3]!.message, /whole number from 0 to 256, not 2\.5/);
    assert.match(problems[4]!.message, /only to this machine; use https:\/\/10\.0\.0\.8:8080\/v1/);
  });

  it("reads the cloud endpoint's zone and model size, refusing a size it cannot parse (#17)", () => {
    const ok = readSettings(reader({ 'cloud.zone': ' SE ', 'cloud.modelParams': '235/22' }));
    assert.deepEqual([ok.settings.cloud.zone, ok.settings.cloud.modelParams, ok.problems], ['SE', '235/22', []]);
    const bad = readSettings(reader({ 'cloud.zone': 'Sweden please', 'cloud.modelParams': 'huge' }));
    assert.deepEqual([bad.settings.cloud.zone, bad.settings.cloud.modelParams], ['', '']);
    assert.deepEqual(
      bad.problems.map((p) => p.key),
      ['verdant.cloud.zone', 'verdant.cloud.modelParams'],
    );
    assert.match(bad.problems[1]!.message, /TOTAL\/ACTIVE/);
  });

  it('accepts a local server on a private network over plain http, and refuses one at a public address', () => {
    const lan = readSettings(reader({ 'local.backend': 'ollama', 'local.serverUrl': 'http://192.168.1.20:11434' }));
    assert.deepEqual([lan.settings.local.serverUrl, lan.problems], ['http://192.168.1.20:11434', []]);
    const { settings, problems } = readSettings(reader({ 'local.backend': 'ollama', 'local.serverUrl': 'http://203.0.113.7:11434' }));
    assert.equal(settings.local.serverUrl, '');
    assert.match(
      problems[0]!.message,
      /^verdant\.local\.serverUrl: plain http goes only to this machine or a private network, and 203\.0\.113\.7 is a public address; use https:/,
    );
  });

  it('rejects a model path that is not a GGUF file', () => {
    const { problems } = readSettings(reader({ 'local.modelPath': '/home/me/model.bin' }));
    assert.match(problems[0]!.message, /\.gguf/);
  });

  it('rejects out-of-range threads', () => {
    assert.equal(readSettings(reader({ 'local.threads': -1 })).problems.length, 1);
    assert.equal(readSettings(reader({ 'local.threads': 257 })).problems.length, 1);
    assert.equal(readSettings(reader({ 'local.threads': 256 })).problems.length, 0);
  });

  describe('local.efficiencyMode (#19)', () => {
    it('defaults to background and accepts each of its three values', () => {
      assert.equal(readSettings(reader({})).settings.local.efficiencyMode, 'background');
      for (const mode of EFFICIENCY_MODES) {
        const { settings, problems } = readSettings(reader({ 'local.efficiencyMode': mode }));
        assert.deepEqual([settings.local.efficiencyMode, problems], [mode, []], mode);
      }
      assert.deepEqual([...EFFICIENCY_MODES], ['background', 'always', 'off']);
    });

    it('falls back to background on a bad value, with a message that names the values to use', () => {
      for (const bad of ['Always', 'low', '', true, 19, ['off'], { mode: 'off' }]) {
        const { settings, problems } = readSettings(reader({ 'local.efficiencyMode': bad }));
        assert.deepEqual(settings, DEFAULT_SETTINGS, String(bad));
        assert.deepEqual(
          problems.map((p) => p.key),
          ['verdant.local.efficiencyMode'],
        );
        assert.match(problems[0]!.message, /^verdant\.local\.efficiencyMode must be one of background, always, off, not .+; using background\.$/);
      }
      assert.equal(
        readSettings(reader({ 'local.efficiencyMode': 'eco' })).problems[0]!.message,
        'verdant.local.efficiencyMode must be one of background, always, off, not "eco"; using background.',
      );
    });

    it('maps each mode and purpose to the priority a request asks the engine for', () => {
      const table = EFFICIENCY_MODES.map((mode) => [mode, enginePriority(mode, 'background'), enginePriority(mode, 'interactive')]);
      assert.deepEqual(table, [
        ['background', 'low', 'normal'],
        ['always', 'low', 'low'],
        ['off', 'normal', 'normal'],
      ]);
    });
  });

  describe('routing', () => {
    it('defaults to balanced, no budget, warn, cascade on', () => {
      assert.deepEqual(readSettings(reader({})).settings.routing, {
        mode: 'balanced',
        dailyBudgetGrams: 0,
        budgetAction: 'warn',
        cascade: true,
        deferWithinHours: 4,
      });
    });

    it('accepts every mode, a fractional budget, both actions and cascade off', () => {
      for (const mode of ROUTING_MODES) {
        const { settings, problems } = readSettings(reader({ 'routing.mode': mode }));
        assert.deepEqual([settings.routing.mode, problems], [mode, []], mode);
      }
      const { settings, problems } = readSettings(
        reader({
          'routing.mode': 'greenest',
          'routing.dailyBudgetGrams': 12.5,
          'routing.budgetAction': 'stop',
          'routing.cascade': false,
        }),
      );
      assert.deepEqual(problems, []);
      assert.deepEqual(settings.routing, { mode: 'greenest', dailyBudgetGrams: 12.5, budgetAction: 'stop', cascade: false, deferWithinHours: 4 });
      assert.equal(readSettings(reader({ 'routing.dailyBudgetGrams': 0 })).settings.routing.dailyBudgetGrams, 0);
      assert.equal(readSettings(reader({ 'routing.dailyBudgetGrams': 1e6 })).settings.routing.dailyBudgetGrams, 1e6);
      assert.equal(readSettings(reader({ 'routing.budgetAction': 'warn' })).settings.routing.budgetAction, 'warn');
    });

    it('treats null as unset', () => {
      const { settings, problems } = readSettings(
        reader({
          'routing.mode': null,
          'routing.dailyBudgetGrams': null,
          'routing.budgetAction': null,
          'routing.cascade': null,
        }),
      );
      assert.deepEqual([settings.routing, problems], [DEFAULT_SETTINGS.routing, []]);
    });

    it('falls back to the default and says what is wrong for each bad routing value', () => {
      const { settings, problems } = readSettings(
        reader({
          'routing.mode': 'cheapest',
          'routing.dailyBudgetGrams': -5,
          'routing.budgetAction': 'block',
          'routing.cascade': 'yes',
        }),
      );
      assert.deepEqual(settings.routing, DEFAULT_SETTINGS.routing);
      assert.deepEqual(settings, DEFAULT_SETTINGS, 'nothing else changes');
      assert.deepEqual(problems, [
        {
          key: 'verdant.routing.mode',
          message: 'verdant.routing.mode must be one of greenest, balanced, fastest, local-only, cloud-only, not "cheapest"; using balanced.',
        },
        { key: 'verdant.routing.dailyBudgetGrams', message: 'verdant.routing.dailyBudgetGrams must be a number from 0 to 1000000, not -5; using 0.' },
        { key: 'verdant.routing.budgetAction', message: 'verdant.routing.budgetAction must be one of warn, stop, not "block"; using warn.' },
        { key: 'verdant.routing.cascade', message: 'verdant.routing.cascade must be true or false, not "yes"; using true.' },
      ]);
    });

    it('rejects a budget that is not a finite number in range', () => {
      for (const bad of ['100', Number.NaN, Number.POSITIVE_INFINITY, 1e6 + 1, -0.001, true, [5], { grams: 5 }]) {
        const { settings, problems } = readSettings(reader({ 'routing.dailyBudgetGrams': bad }));
        assert.equal(settings.routing.dailyBudgetGrams, 0, String(bad));
        assert.deepEqual(
          problems.map((p) => p.key),
          ['verdant.routing.dailyBudgetGrams'],
          String(bad),
        );
        assert.match(problems[0]!.message, /must be a number from 0 to 1000000, not .*; using 0\.$/);
      }
      assert.match(readSettings(reader({ 'routing.dailyBudgetGrams': '100' })).problems[0]!.message, /not "100"/);
      assert.match(readSettings(reader({ 'routing.dailyBudgetGrams': [5] })).problems[0]!.message, /not a list/);
    });

    it('is case-sensitive about the mode and keeps the other routing values when one is bad', () => {
      const { settings, problems } = readSettings(reader({ 'routing.mode': 'Greenest', 'routing.budgetAction': 'stop', 'routing.cascade': false }));
      assert.deepEqual(settings.routing, { mode: 'balanced', dailyBudgetGrams: 0, budgetAction: 'stop', cascade: false, deferWithinHours: 4 });
      assert.deepEqual(
        problems.map((p) => p.key),
        ['verdant.routing.mode'],
      );
    });
  });

  describe('checkEndpoint', () => {
    it('allows https anywhere and http only on loopback', () => {
      assert.deepEqual(checkEndpoint('https://api.example.com/v1'), { ok: true, url: 'https://api.example.com/v1' });
      assert.equal(checkEndpoint('http://127.0.0.1:11434/v1').ok, true);
      assert.equal(checkEndpoint('http://localhost:1234').ok, true);
      assert.equal(checkEndpoint('http://[::1]:8080/v1').ok, true);
      assert.equal(checkEndpoint('http://example.com/v1').ok, false);
      assert.equal(checkEndpoint('ftp://example.com').ok, false);
      assert.equal(checkEndpoint('not a url').ok, false);
    });

    it('refuses credentials in the URL and points to secret storage', () => {
      for (const url of ['https://user:sk-123@api.example.com/v1', 'https://api.example.com/v1?api_key=sk-123', 'https://x.example/v1?token=abc']) {
        const r = checkEndpoint(url);
        assert.equal(r.ok, false, url);
        if (!r.ok) {
          assert.match(r.reason, /Set Cloud API Key/);
          assert.ok(!r.reason.includes('sk-123'), 'the secret is not echoed back');
        }
      }
    });
  });
});

describe('settings an opened repository may tighten but never loosen', () => {
  const settingsWith = (scoped: Record<string, { globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown }>) =>
    readSettings((key) => (key in TIGHTEN_ONLY ? tightened(key, scoped[key] ?? {}) : undefined)).settings;

  it("exclusions and disabled languages: the workspace adds to the user's, it cannot drop them", () => {
    const s = settingsWith({
      'completions.exclude': { globalValue: ['**/.env*', '**/secrets/**'], workspaceValue: [], workspaceFolderValue: ['dist/**'] },
      'completions.disabledLanguages': { globalValue: ['markdown'], workspaceValue: ['plaintext', 'markdown'] },
    });
    assert.deepEqual(s.completions.exclude, ['**/.env*', '**/secrets/**', 'dist/**']);
    assert.deepEqual(s.completions.disabledLanguages, ['markdown', 'plaintext']);
  });

  it('a workspace value of the wrong type cannot turn the user\'s list into "invalid, so empty"', () => {
    const { settings, problems } = readSettings((key) =>
      key in TIGHTEN_ONLY ? tightened(key, key === 'completions.exclude' ? { globalValue: ['**/.env*'], workspaceValue: 5 } : {}) : undefined,
    );
    assert.deepEqual(settings.completions.exclude, ['**/.env*']);
    assert.deepEqual(problems, []);
    const own = readSettings((key) => (key === 'completions.exclude' ? tightened(key, { globalValue: 'oops' }) : undefined));
    assert.equal(own.problems.length, 1, "the user's own mistake is still reported");
  });

  it('switches: a workspace can turn completions or Verdant off, never on against the user', () => {
    assert.equal(settingsWith({ 'completions.enable': { globalValue: false, workspaceValue: true } }).completions.enable, false);
    assert.equal(settingsWith({ enable: { globalValue: false, workspaceFolderValue: true } }).enable, false);
    assert.equal(settingsWith({ 'completions.enable': { workspaceValue: false } }).completions.enable, false);
    assert.equal(settingsWith({ 'completions.enable': { globalValue: true, workspaceValue: 'yes' } }).completions.enable, true);
    assert.equal(settingsWith({}).completions.enable, true, 'the default when nobody says');
  });
});
