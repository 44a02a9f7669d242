// The engine's CPU batch choice per model shape (bench/results/kernels.json has the measurements behind it).
import * as assert from 'node:assert/strict';
import { cpuBatchSize } from '../../src/engine/llama/engine';

describe('CPU batch size per model shape', () => {
  it('is 128 on the CPU for models up to 1024 wide, else the default', () => {
    assert.equal(cpuBatchSize('cpu', 64), 128, 'the test model');
    assert.equal(cpuBatchSize('cpu', 896), 128, 'Qwen2.5-Coder 0.5B');
    assert.equal(cpuBatchSize('cpu', 1536), undefined, 'Qwen2.5-Coder 1.5B: node-llama-cpp default');
    assert.equal(cpuBatchSize('vulkan', 896), undefined, 'GPUs keep the default');
    assert.equal(cpuBatchSize('cpu', null), undefined, 'unknown width');
  });
});
