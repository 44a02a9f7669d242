import * as assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, type VerdantSettings } from '../../src/core/settings';
import { describeStatus, type StatusInput } from '../../src/core/status';

const input = (over: Partial<StatusInput> & { settings?: VerdantSettings } = {}): StatusInput => ({
  version: '1.2.3',
  settings: DEFAULT_SETTINGS,
  problems: [],
  trusted: true,
  hasCloudKey: false,
  ...over,
});
const withCloud = (cloud: Partial<VerdantSettings['cloud']>): VerdantSettings => ({
  ...DEFAULT_SETTINGS,
  cloud: { ...DEFAULT_SETTINGS.cloud, ...cloud },
});

describe('status view', () => {
  it('shows on, local only, by default', () => {
    const v = describeStatus(input());
    assert.equal(v.text, '$(sparkle) Verdant: no model', 'no model chosen yet, and the bar says so');
    assert.equal(v.severity, 'ok');
    assert.equal(v.cloud, 'off');
    assert.match(v.lines[0]!, /Verdant 1\.2\.3\*\*: on/);
    assert.match(v.lines.join('\n'), /nothing leaves this machine/);
  });

  it('shows off when disabled', () => {
    const v = describeStatus(input({ settings: { ...DEFAULT_SETTINGS, enable: false } }));
    assert.equal(v.text, '$(circle-slash) Verdant');
    assert.equal(v.severity, 'off');
  });

  it('warns, with each problem, when a setting is invalid', () => {
    const v = describeStatus(input({ problems: [{ key: 'verdant.local.gpu', message: 'verdant.local.gpu must be one of …' }] }));
    assert.equal(v.severity, 'warning');
    assert.equal(v.text, '$(warning) Verdant: no model');
    assert.ok(v.lines.some((l) => l.includes('verdant.local.gpu must be')));
  });

  it('never reports cloud ready in an untrusted workspace', () => {
    const settings = withCloud({ enable: true, endpoint: 'https://api.example.com/v1' });
    assert.equal(describeStatus(input({ settings, hasCloudKey: true, trusted: false })).cloud, 'untrusted');
    assert.equal(describeStatus(input({ settings, hasCloudKey: true, trusted: true })).cloud, 'ready');
  });

  it('says what is missing before cloud can be used', () => {
    assert.equal(describeStatus(input({ settings: withCloud({ enable: true }) })).cloud, 'no-endpoint');
    const v = describeStatus(input({ settings: withCloud({ enable: true, endpoint: 'https://api.example.com/v1' }) }));
    assert.equal(v.cloud, 'no-key');
    assert.ok(v.lines.some((l) => l.includes('Set Cloud API Key')));
  });

  it('drops "no model" once a role has one (either serves completions)', () => {
    const planner = { ...DEFAULT_SETTINGS.planner, modelPath: '/m/instruct.gguf' };
    assert.equal(describeStatus(input({ settings: { ...DEFAULT_SETTINGS, planner } })).text, '$(sparkle) Verdant');
    const server = { ...DEFAULT_SETTINGS.local, backend: 'ollama' } as const;
    assert.equal(describeStatus(input({ settings: { ...DEFAULT_SETTINGS, local: server } })).text, '$(sparkle) Verdant');
  });

  it("names each role's model by file name, and where an empty role's work goes", () => {
    const local = { ...DEFAULT_SETTINGS.local, modelPath: 'C:\\models\\coder.gguf', gpu: 'vulkan', threads: 6 } as const;
    const lines = describeStatus(input({ settings: { ...DEFAULT_SETTINGS, local } })).lines;
    assert.ok(lines.includes('Completion model: coder.gguf (vulkan, 6 threads)'), lines.join('\n'));
    assert.ok(lines.includes('Planner model: none; tasks and plans run on the completion model (coder.gguf)'), lines.join('\n'));
    const planner = { ...DEFAULT_SETTINGS.planner, modelPath: '/m/instruct.gguf', gpu: 'cpu' } as const;
    const both = describeStatus(input({ settings: { ...DEFAULT_SETTINGS, local, planner } })).lines;
    assert.ok(both.includes('Planner model: instruct.gguf (cpu, 6 threads)'), both.join('\n'));
    const measured = describeStatus(
      input({
        settings: { ...DEFAULT_SETTINGS, local, planner },
        roleFacts: (role) =>
          role === 'completion' ? { backend: 'llama.cpp (vulkan)', tokensPerSecond: 84.6 } : { backend: null, tokensPerSecond: null },
      }),
    ).lines;
    assert.ok(measured.includes('Completion model: coder.gguf (vulkan, 6 threads) · llama.cpp (vulkan), 85 tokens/s'), measured.join('\n'));
    assert.ok(measured.includes('Planner model: instruct.gguf (cpu, 6 threads)'), 'nothing measured yet, nothing said');
  });
});
