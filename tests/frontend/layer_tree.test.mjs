// Specifications of the sidebar's layer tree (frontend/layer_tree.js) and of the model's own row
// (frontend/model_layer.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { groupBadge, groupPrefixes, layerTree, revealLayer, worstAlertKind } from '../../frontend/layer_tree.js';
import { alertTitle } from '../../frontend/shape.js';
import { displayNames, modelLayerTitle } from '../../frontend/model_layer.js';

const ENCODER = [];
for (let block = 0; block < 4; block++) {
  for (const part of ['self_attn', 'self_attn.out_proj', 'linear1', 'linear2', 'norm1', 'norm2']) {
    ENCODER.push(`encoder.layers.${block}.${part}`);
  }
}
const DEEP = ['Reverser', 'embed', ...ENCODER, 'head'];

// The leaves in display order, each with the labels of the groups above it.
function leaves(nodes, path = []) {
  return nodes.flatMap((node) =>
    node.kind === 'layer'
      ? [{ ...node, path }]
      : leaves(node.children, [...path, node.label]),
  );
}

test('a flat model stays a flat list', () => {
  const tree = layerTree(['fc1', 'fc2', 'fc3', 'head']);
  assert.deepEqual(
    tree.map((n) => [n.kind, n.label]),
    [
      ['layer', 'fc1'],
      ['layer', 'fc2'],
      ['layer', 'fc3'],
      ['layer', 'head'],
    ],
  );
});

test('a prefix holding one layer is not a group', () => {
  const tree = layerTree(['features.0', 'classifier.2']);
  assert.deepEqual(
    tree.map((n) => [n.kind, n.label]),
    [
      ['layer', 'features.0'],
      ['layer', 'classifier.2'],
    ],
  );
});

test('a deep encoder groups by block, a chain of single groups folded into one', () => {
  const tree = layerTree(DEEP);
  assert.deepEqual(
    tree.map((n) => [n.kind, n.label]),
    [
      ['layer', 'Reverser'],
      ['layer', 'embed'],
      ['group', 'encoder.layers'],
      ['layer', 'head'],
    ],
  );
  const encoder = tree[2];
  assert.equal(encoder.prefix, 'encoder.layers');
  assert.equal(encoder.layers.length, 24);
  assert.deepEqual(
    encoder.children.map((n) => [n.kind, n.prefix, n.label, n.layers.length]),
    [0, 1, 2, 3].map((b) => ['group', `encoder.layers.${b}`, String(b), 6]),
  );
  assert.deepEqual(
    encoder.children[0].children.map((n) => [n.kind, n.label]),
    [
      ['group', 'self_attn'],
      ['layer', 'linear1'],
      ['layer', 'linear2'],
      ['layer', 'norm1'],
      ['layer', 'norm2'],
    ],
  );
  assert.deepEqual(
    encoder.children[0].children[0].children.map((n) => [n.label, n.name]),
    [
      ['self_attn', 'encoder.layers.0.self_attn'],
      ['out_proj', 'encoder.layers.0.self_attn.out_proj'],
    ],
  );
});

test('every layer is in the tree once, in order, and its group labels and label spell its full name', () => {
  const found = leaves(layerTree(DEEP));
  assert.deepEqual(
    found.map((leaf) => leaf.index),
    DEEP.map((_, i) => i),
  );
  for (const leaf of found) {
    const spelled = [...leaf.path, leaf.label].join('.');
    // a layer named like its group (self_attn in group self_attn) is the group's prefix itself
    assert.ok(spelled === leaf.name || spelled === `${leaf.name}.${leaf.label}`, `${spelled} vs ${leaf.name}`);
  }
});

test('Keras paths group by their slashes', () => {
  const tree = layerTree(['block/dense', 'block/dense_1', 'head']);
  assert.deepEqual(
    tree.map((n) => [n.kind, n.label]),
    [
      ['group', 'block'],
      ['layer', 'head'],
    ],
  );
  assert.deepEqual(
    tree[0].children.map((n) => n.label),
    ['dense', 'dense_1'],
  );
});

test('a group stands where its first layer stood, its later layers gathered into it', () => {
  const tree = layerTree(['a.x', 'b', 'a.y']);
  assert.deepEqual(
    tree.map((n) => n.label),
    ['a', 'b'],
  );
  assert.deepEqual(tree[0].layers, [0, 2]);
});

test('group prefixes are listed depth first', () => {
  assert.deepEqual(groupPrefixes(layerTree(DEEP)).slice(0, 3), [
    'encoder.layers',
    'encoder.layers.0',
    'encoder.layers.0.self_attn',
  ]);
  assert.deepEqual(groupPrefixes(layerTree(['fc1', 'fc2'])), []);
});

test("a group's badge counts its layers' states and alerts like the layer badges, the worst kind named", () => {
  const names = ['a.x', 'a.y', 'a.z', 'b'];
  const group = layerTree(names)[0];
  const states = ['nonfinite', 'none', 'ok', 'nonfinite'];
  const alerts = [
    { kind: 'vanishing', layer: 'a.y' },
    { kind: 'nonfinite', layer: 'a.x' },
    { kind: 'exploding', layer: 'b' },
  ];
  const badge = groupBadge(group, states, names, alerts);
  assert.equal(badge.text, '✕1 ⚑2');
  assert.equal(badge.className, 'badge group-badge nonfinite alerted worst-nonfinite');
  assert.equal(badge.title, `1 of 3 layers non-finite at this step; 1 of 3 layers without a gradient at this step; 2 alerts (worst: ${alertTitle('nonfinite')})`);
});

test("a group's badge counts only the layers the filter shows", () => {
  const names = ['a.x', 'a.y', 'a.z'];
  const group = layerTree(names)[0];
  const badge = groupBadge(group, ['nonfinite', 'none', 'ok'], names, [{ kind: 'exploding', layer: 'a.x' }], new Set([1, 2]));
  assert.equal(badge.text, '∅1');
  assert.equal(badge.className, 'badge group-badge none');
  assert.equal(badge.title, '1 of 2 layers without a gradient at this step');
});

test('a healthy group has an empty badge', () => {
  const names = ['a.x', 'a.y'];
  const badge = groupBadge(layerTree(names)[0], ['ok', 'ok'], names, []);
  assert.deepEqual(badge, { text: '', className: 'badge group-badge ok', title: '' });
});

test('the worst alert kind puts non-finite first and unknown kinds last', () => {
  assert.equal(worstAlertKind(['dead_units', 'exploding', 'vanishing']), 'exploding');
  assert.equal(worstAlertKind(['something_new', 'dead_units']), 'dead_units');
  assert.equal(worstAlertKind([]), null);
});

test("the model's own row is labelled and explained, other rows untouched, older logs unlabelled", () => {
  assert.deepEqual(displayNames(['Reverser', 'embed', 'head'], 'Reverser'), [
    'Reverser (own parameters)',
    'embed',
    'head',
  ]);
  assert.deepEqual(displayNames(['Reverser', 'embed'], null), ['Reverser', 'embed']);
  // where the long label does not fit, the short one still says it is the model's own row
  assert.deepEqual(displayNames(['Reverser', 'embed'], 'Reverser', (t) => t.length <= 20), [
    'Reverser (own)',
    'embed',
  ]);
  assert.match(modelLayerTitle('Reverser', 'Reverser'), /^Reverser: the parameters the model object holds itself/);
  assert.equal(modelLayerTitle('embed', 'Reverser'), 'embed');
  assert.equal(modelLayerTitle('Reverser', null), 'Reverser');
});

test('revealing a layer opens only the collapsed groups it sits in', () => {
  const collapsed = ['encoder.layers', 'encoder.layers.1', 'encoder.layers.10', 'head'];
  assert.deepEqual(revealLayer(collapsed, 'encoder.layers.1.linear1'), ['encoder.layers.10', 'head']);
  assert.deepEqual(revealLayer(['block/dense'], 'block/dense'), []);
  assert.equal(revealLayer(collapsed, 'embed'), collapsed);
  assert.equal(revealLayer(collapsed, null), collapsed);
});
