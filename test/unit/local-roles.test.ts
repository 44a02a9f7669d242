import * as assert from 'node:assert/strict';
import { assignRole, describeAssignment, roleModelKey } from '../../src/core/localRoles';
import { readSettings } from '../../src/core/settings';

const settingsOf = (values: Record<string, unknown>) => readSettings((key) => values[key]).settings;
const FIM = '/models/qwen2.5-coder-1.5b-q4_k_m.gguf';
const INSTRUCT = '/models/qwen2.5-coder-3b-instruct-q4_k_m.gguf';

describe('local model roles', () => {
  it('runs each role on its own model when both are set', () => {
    const s = settingsOf({ 'local.modelPath': FIM, 'planner.modelPath': INSTRUCT, 'planner.gpu': 'cpu', 'local.threads': 3 });
    const completion = assignRole(s, 'completion');
    const planner = assignRole(s, 'planner');
    assert.equal(completion.servedBy, 'completion');
    assert.equal(completion.model?.modelPath, FIM);
    assert.equal(planner.servedBy, 'planner');
    assert.deepEqual(planner.model, { backend: 'llama.cpp', modelPath: INSTRUCT, gpu: 'cpu', threads: 3, serverUrl: '', serverModel: '' });
    assert.notEqual(roleModelKey(completion.model!), roleModelKey(planner.model!));
    assert.equal(describeAssignment(completion), 'Completion model: qwen2.5-coder-1.5b-q4_k_m.gguf');
    assert.equal(describeAssignment(planner), 'Planner model: qwen2.5-coder-3b-instruct-q4_k_m.gguf');
  });

  it('hands an empty role to the other role, and says so', () => {
    const onlyCompletion = settingsOf({ 'local.modelPath': FIM });
    const planner = assignRole(onlyCompletion, 'planner');
    assert.equal(planner.servedBy, 'completion');
    assert.equal(planner.model?.modelPath, FIM);
    assert.equal(describeAssignment(planner), 'Planner model: none; tasks and plans run on the completion model (qwen2.5-coder-1.5b-q4_k_m.gguf)');
    const onlyPlanner = settingsOf({ 'planner.modelPath': INSTRUCT });
    const completion = assignRole(onlyPlanner, 'completion');
    assert.equal(completion.servedBy, 'planner');
    assert.equal(completion.model?.modelPath, INSTRUCT);
    assert.match(describeAssignment(completion), /^Completion model: none; ghost text comes from the planner model/);
  });

  it('has no local model when neither role has one: tasks may only go to the cloud', () => {
    const s = settingsOf({});
    const planner = assignRole(s, 'planner');
    assert.deepEqual([planner.servedBy, planner.model], [null, null]);
    assert.equal(describeAssignment(planner), 'Planner model: none; tasks and plans go to the cloud when the router allows');
    assert.equal(describeAssignment(assignRole(s, 'completion')), 'Completion model: none; no inline completions until one is chosen');
  });

  it('serves a role from a local server by its model name, whatever the model path', () => {
    const s = settingsOf({
      'local.modelPath': FIM,
      'planner.backend': 'ollama',
      'planner.serverModel': 'qwen2.5-coder:3b-instruct',
      'planner.modelPath': INSTRUCT,
    });
    const planner = assignRole(s, 'planner');
    assert.equal(planner.servedBy, 'planner');
    assert.equal(planner.model?.modelPath, '', 'a server backend runs no local file');
    assert.equal(describeAssignment(planner), 'Planner model: qwen2.5-coder:3b-instruct on ollama');
  });

  it('reports a bad planner setting and leaves the role empty', () => {
    const { settings, problems } = readSettings((key) => ({ 'planner.modelPath': 'models/instruct.gguf', 'planner.backend': 'vllm' })[key]);
    assert.equal(settings.planner.modelPath, '');
    assert.equal(settings.planner.backend, 'llama.cpp');
    assert.deepEqual(
      problems.map((p) => p.key),
      ['verdant.planner.backend', 'verdant.planner.modelPath'],
    );
    assert.match(problems[1]!.message, /must be an absolute path to a \.gguf file/);
  });
});
