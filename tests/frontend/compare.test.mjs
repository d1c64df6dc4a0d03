// Specifications of the run comparison's data shaping (frontend/compare.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { alignLayers, compareAtStep, layerNote, ratioHeatmap, runColour } from '../../frontend/compare.js';
import { KIND, decodeTable } from '../../frontend/shape.js';

function table(run, layers, steps, value) {
  return decodeTable({
    run,
    layers,
    stats: ['grad_l2'],
    steps,
    values: steps.map((s) => layers.map((l, j) => [value(s, j, l)])),
  });
}

test('layers are aligned by name in the first run’s order; the missing ones are named', () => {
  const a = table('a', ['embed', 'block.0', 'block.1', 'head'], [0], () => 1);
  const b = table('b', ['embed', 'block.1', 'final_norm', 'head'], [0], () => 1);
  const alignment = alignLayers([a, b]);
  assert.deepEqual(alignment.shared, ['embed', 'block.1', 'head']);
  assert.deepEqual(alignment.missing.get('a'), ['final_norm']);
  assert.deepEqual(alignment.missing.get('b'), ['block.0']);
  assert.equal(
    layerNote(alignment),
    'Compared over the 3 layers the runs share. Not in a: final_norm. Not in b: block.0.',
  );
  assert.equal(layerNote(alignLayers([a, a])), '');
});

test('the bars of one step take each run at its own nearest logged step', () => {
  const a = table('a', ['x'], [0, 10, 20], (s) => s + 1);
  const b = table('b', ['x'], [0, 15], (s) => 100 + s);
  const [row] = compareAtStep([a, b], ['x'], 'grad_l2', 20);
  assert.deepEqual(
    row.cells.map((c) => [c.run, c.step, c.value]),
    [
      ['a', 20, 21],
      ['b', 15, 115],
    ],
  );
});

test('the ratio heatmap is log10(other / base) on the steps both runs logged', () => {
  const a = table('a', ['x', 'y'], [0, 10, 20], (s, j) => (j + 1) * (s + 1));
  const b = table('b', ['y', 'x'], [10, 20, 30], (s, j) => (j === 0 ? 2 : 1) * 30 * (s + 1));
  const ratio = ratioHeatmap(a, b, 'grad_l2', ['x', 'y']);
  assert.deepEqual(ratio.steps, [10, 20]);
  assert.equal(ratio.rows, 2);
  // x: 30(s+1) / (s+1) = 30; y: 60(s+1) / 2(s+1) = 30
  for (const v of ratio.scaled) assert.ok(Math.abs(v - Math.log10(30)) < 1e-6);
});

test('a ratio with NaN, no gradient or zero on either side is marked, not computed', () => {
  const a = decodeTable({
    run: 'a',
    layers: ['x', 'y', 'z'],
    stats: ['grad_l2'],
    steps: [0],
    values: [[['NaN'], [null], [0]]],
  });
  const b = decodeTable({
    run: 'b',
    layers: ['x', 'y', 'z'],
    stats: ['grad_l2'],
    steps: [0],
    values: [[[1], [1], [1]]],
  });
  const ratio = ratioHeatmap(a, b, 'grad_l2', ['x', 'y', 'z']);
  assert.deepEqual(Array.from(ratio.kinds), [KIND.NONFINITE, KIND.NONE, KIND.BELOW]);
  assert.ok(Number.isNaN(ratio.min));
});

test("run colours follow TensorBoard's palette in TensorBoard's run order", () => {
  const order = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
  assert.equal(runColour('r0', order), '#425066');
  assert.equal(runColour('r0', order, 'dark'), '#8e98a3');
  assert.equal(runColour('r2', order), '#e52592');
  assert.equal(runColour('r7', order), '#425066'); // the palette wraps around
  assert.equal(runColour('new', ['a']), '#12b5cb'); // an unknown run comes after the known ones
});

test('the ratio heatmap keeps only the zoomed steps', () => {
  const a = table('a', ['x'], [0, 10, 20, 30], () => 1);
  const b = table('b', ['x'], [0, 10, 20, 30], () => 2);
  const ratio = ratioHeatmap(a, b, 'grad_l2', ['x'], { from: 10, to: 20 });
  assert.deepEqual(ratio.steps, [10, 20]);
  assert.equal(ratio.cols, 2);
});
