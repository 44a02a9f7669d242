// Cutting a long selection into regions the local model can each take (src/core/tasks/regions.ts): cuts only between
// top-level blocks, regions that join back to the selection exactly, none over the limit, and no cut where none is
// safe.
import * as assert from 'node:assert/strict';
import { rejoinable, splitRegions, topLevelBlocks } from '../../src/core/tasks/regions';

const ts = (name: string) => `export function ${name}(a: number): number {\n  if (a > 0) {\n    return a;\n  }\n  return -a;\n}\n`;

describe('task regions', () => {
  it('cuts between top-level blocks after a blank line or a closing line, never inside one', () => {
    const code = `${ts('f')}\n${ts('g')}${ts('h')}`;
    assert.deepEqual(topLevelBlocks(code), [`${ts('f')}\n`, ts('g'), ts('h')]);
    // An indented selection (a class body): its own outermost indent is the top level.
    const body = '  one() {\n    return 1;\n  }\n\n  two() {\n    return 2;\n  }\n';
    assert.deepEqual(topLevelBlocks(body), ['  one() {\n    return 1;\n  }\n\n', '  two() {\n    return 2;\n  }\n']);
    const py = 'def a():\n    x = 1\n\n    return x\n\n\ndef b():\n    return 2\n';
    assert.deepEqual(topLevelBlocks(py), ['def a():\n    x = 1\n\n    return x\n\n\n', 'def b():\n    return 2\n']);
    const rb = 'def a\n  1\nend\ndef b\n  2\nend';
    assert.deepEqual(topLevelBlocks(rb), ['def a\n  1\nend\n', 'def b\n  2\nend']);
    // A statement continued at the top level is not a cut.
    assert.deepEqual(topLevelBlocks('const x =\n1 +\n2;\n'), ['const x =\n1 +\n2;\n']);
  });

  it('packs whole blocks into regions within the limit that join back to the selection exactly', () => {
    const code = Array.from({ length: 10 }, (_, i) => ts(`f${i}`)).join('\n');
    const max = 3 * ts('f0').length + 3;
    const regions = splitRegions(code, max)!;
    assert.equal(regions.join(''), code);
    assert.ok(regions.length >= 4, `${regions.length} regions`);
    for (const r of regions) {
      assert.ok(r.length <= max, `${r.length} > ${max}`);
      assert.match(r, /^export function f\d\(/);
    }
  });

  it('does not cut what fits, nor a selection whose single block is over the limit', () => {
    assert.equal(splitRegions(ts('f'), 1000), undefined);
    const long = `export function big() {\n${'  step();\n'.repeat(200)}}\n`;
    assert.equal(splitRegions(`${long}\n${ts('g')}`, 500), undefined);
    assert.equal(splitRegions('x'.repeat(2000), 500), undefined);
  });

  it("gives a region's replacement the original's line ending, whatever the model's code block kept", () => {
    assert.equal(rejoinable('a()', 'b()\n\n'), 'a()\n\n');
    assert.equal(rejoinable('a()\n\n\n', 'b()\n'), 'a()\n');
    assert.equal(rejoinable('a()\n', 'b()'), 'a()');
  });
});
