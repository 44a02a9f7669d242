import * as assert from 'node:assert/strict';
import { checkEndpoint, DEFAULT_SETTINGS, readSettings } from '../../src/core/settings';

const reader = (values: Record<string, unknown>) => (key: string) => values[key];

describe('settings', () => {
  it('uses the defaults when nothing is set', () => {
    const { settings, problems } = readSettings(reader({}));
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.deepEqual(problems, []);
  });

  it('accepts valid values', () => {
    const { settings, problems } = readSettings(reader({
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
    }));
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
    const { settings, problems } = readSettings(reader({
      enable: 'yes',
      'local.gpu': 'rocm',
      'local.threads': 2.5,
      'local.modelPath': 'models/x.gguf',
      'cloud.endpoint': 'http://10.0.0.8:8080/v1',
    }));
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.deepEqual(problems.map((p) => p.key), [
      'verdant.enable', 'verdant.local.modelPath', 'verdant.local.gpu', 'verdant.local.threads', 'verdant.cloud.endpoint',
    ]);
    assert.match(problems[0].message, /must be true or false, not "yes"; using true/);
    assert.match(problems[1].message, /absolute path/);
    assert.match(problems[2].message, /one of auto, vulkan, cuda, metal, cpu, not "rocm"/);
    assert.match(problems[3].message, /whole number from 0 to 256, not 2\.5/);
    assert.match(problems[4].message, /only to this machine; use https:\/\/10\.0\.0\.8:8080\/v1/);
  });

  it('refuses a local server reached over plain http on another machine', () => {
    const { settings, problems } = readSettings(reader({ 'local.backend': 'ollama', 'local.serverUrl': 'http://192.168.1.20:11434' }));
    assert.equal(settings.local.serverUrl, '');
    assert.match(problems[0].message, /verdant\.local\.serverUrl: plain http is allowed only to this machine/);
  });

  it('rejects a model path that is not a GGUF file', () => {
    const { problems } = readSettings(reader({ 'local.modelPath': '/home/me/model.bin' }));
    assert.match(problems[0].message, /\.gguf/);
  });

  it('rejects out-of-range threads', () => {
    assert.equal(readSettings(reader({ 'local.threads': -1 })).problems.length, 1);
    assert.equal(readSettings(reader({ 'local.threads': 257 })).problems.length, 1);
    assert.equal(readSettings(reader({ 'local.threads': 256 })).problems.length, 0);
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
