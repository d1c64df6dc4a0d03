// Specifications of what the layer views share (frontend/layer_view.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { keptLayer, layerChange, selectedStep, shownStep, stepAfter, stepCaption } from '../../frontend/layer_view.js';

test('the shown step follows the dashboard step to the nearest kept step, the last before any', () => {
  assert.equal(shownStep([0, 100, 200], 130), 100);
  assert.equal(shownStep([0, 100, 200], 160), 200);
  assert.equal(shownStep([0, 100, 200], undefined), 200);
  assert.equal(shownStep([], 5), null);
});

test('step buttons move one kept step and stop at either end', () => {
  assert.equal(stepAfter([0, 100, 200], 100, 1), 200);
  assert.equal(stepAfter([0, 100, 200], 200, 1), 200);
  assert.equal(stepAfter([0, 100, 200], 0, -1), 0);
  assert.equal(stepAfter([0, 100, 200], 150, 1), 100, 'a step not kept counts as the first');
});

test('the selected step is the dashboard table step, undefined before a table', () => {
  assert.equal(selectedStep({ table: { steps: [0, 10, 20] }, stepIndex: 2 }), 20);
  assert.equal(selectedStep({ table: null, stepIndex: 0 }), undefined);
});

test('the caption says when the step shown is only the nearest kept one', () => {
  assert.equal(stepCaption(200, 230), 'step 200 (nearest to step 230)');
  assert.equal(stepCaption(200, 200), 'step 200');
  assert.equal(stepCaption(200, undefined), 'step 200');
  assert.equal(stepCaption(200, null), 'step 200');
});

test('a new layer list keeps the selected layer, else selects the view’s end of the list', () => {
  assert.equal(keptLayer(['a', 'b', 'c'], 'b', 'last'), 'b');
  assert.equal(keptLayer(['a', 'b', 'c'], 'x', 'last'), 'c');
  assert.equal(keptLayer(['a', 'b', 'c'], '', 'first'), 'a');
});

test('an update is another run, a new layer list or version, a step move, or no layers', () => {
  const run = { run: 'exp1', version: 1 };
  const { change, seen } = layerChange(null, run, ['conv', 'fc']);
  assert.equal(change, 'run');
  assert.equal(layerChange(seen, run, ['conv', 'fc']).change, 'step');
  assert.equal(layerChange(seen, run, ['fc']).change, 'layers');
  assert.equal(layerChange(seen, { ...run, version: 2 }, ['conv', 'fc']).change, 'layers');
  assert.equal(layerChange(seen, { ...run, run: 'exp2' }, ['conv', 'fc']).change, 'run');
  assert.deepEqual(layerChange(seen, run, []), { change: 'none', seen: null });
  assert.equal(layerChange(null, run, ['conv', 'fc']).change, 'run', 'after no layers, the layers come anew');
});

test('runs are told apart whole, whatever characters their names hold', () => {
  const seen = layerChange(null, { run: 'a|b', version: 1 }, ['fc']).seen;
  assert.equal(layerChange(seen, { run: 'a', version: 1 }, ['fc']).change, 'run');
  const split = layerChange(null, { run: 'r', version: 1 }, ['x\ny']).seen;
  assert.equal(layerChange(split, { run: 'r', version: 1 }, ['x', 'y']).change, 'layers');
});
