// Specifications of what the views keep between renders (frontend/render_cache.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { heatmapCache, heatmapKey, lruCache, objectId } from '../../frontend/render_cache.js';
import { decodeTable } from '../../frontend/shape.js';

function table(run, layers = ['a', 'b', 'c']) {
  return decodeTable({
    run,
    layers,
    stats: ['grad_l2'],
    steps: [0, 10, 20],
    values: [0, 10, 20].map((s) => layers.map((_, j) => [1 + s + j])),
  });
}

// What the heatmap view asks for at a step change: the same inputs, a new object each time.
function inputsOf(shown, changes = {}) {
  return {
    table: shown,
    version: 1,
    stat: 'grad_l2',
    log: true,
    range: 'robust',
    visible: [0, 1, 2],
    zoom: null,
    theme: 'light',
    ...changes,
  };
}

test('the least recently used entry is the one forgotten', () => {
  const cache = lruCache(2);
  let builds = 0;
  const build = (value) => () => {
    builds += 1;
    return value;
  };
  assert.equal(cache.get('a', build(1)), 1);
  assert.equal(cache.get('b', build(2)), 2);
  assert.equal(cache.get('a', build(99)), 1, 'a is held: not built again');
  cache.get('c', build(3)); // b is now the least recently used
  assert.equal(cache.size, 2);
  assert.ok(cache.has('a') && cache.has('c') && !cache.has('b'));
  assert.equal(cache.get('b', build(4)), 4, 'b was forgotten: built again');
  assert.equal(builds, 4);
  cache.clear();
  assert.equal(cache.size, 0);
  assert.throws(() => lruCache(0), /at least 1 entry/);
});

test('an object keeps its id; a copy of it (a refreshed table) gets another', () => {
  const shown = table('run');
  assert.equal(objectId(shown), objectId(shown));
  assert.notEqual(objectId(shown), objectId({ ...shown }));
  assert.notEqual(objectId(table('run')), objectId(table('run')));
});

test('a step or layer selection reuses the heatmap image; every input of its pixels rebuilds it', () => {
  const shown = table('run');
  let builds = 0;
  const image = heatmapCache(2, (inputs) => {
    builds += 1;
    return { inputs };
  });
  const first = image(inputsOf(shown));
  // the step cursor and the selected row are drawn over the image: not inputs of it
  assert.equal(image({ ...inputsOf(shown), stepIndex: 2, layerIndex: 1 }), first);
  assert.equal(builds, 1);
  const changes = {
    run: { table: table('other') },
    'refreshed table': { table: { ...shown } },
    version: { version: 2 },
    stat: { stat: 'grad_max_abs' },
    'log scale': { log: false },
    'colour range': { range: 'full' },
    filter: { visible: [0, 2] },
    zoom: { zoom: [1, 2] },
    theme: { theme: 'dark' },
  };
  for (const [what, change] of Object.entries(changes)) {
    const before = builds;
    const rebuilt = image(inputsOf(shown, change));
    assert.equal(builds, before + 1, `a change of ${what} must build a new image`);
    assert.notEqual(rebuilt, first, `a change of ${what} must not show the old image`);
  }
});

test('zooming back to the whole run reuses the image it showed before the zoom', () => {
  const shown = table('run');
  let builds = 0;
  const image = heatmapCache(3, () => ({ n: ++builds }));
  const whole = image(inputsOf(shown));
  const zoomed = image(inputsOf(shown, { zoom: [0, 1] }));
  assert.notEqual(zoomed, whole);
  assert.equal(image(inputsOf(shown)), whole);
  assert.equal(image(inputsOf(shown, { zoom: [0, 1] })), zoomed);
  assert.equal(builds, 2);
});

test('the keys of two filters that keep different layers differ, also for long lists', () => {
  const shown = table('run');
  const many = Array.from({ length: 500 }, (_, j) => j);
  const key = (visible) => heatmapKey(inputsOf(shown, { visible }));
  assert.notEqual(key(many), key(many.slice(0, 499)));
  assert.notEqual(key([1, 23]), key([12, 3]));
  assert.equal(key(many), key([...many]));
});
