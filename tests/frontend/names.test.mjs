// Specifications of the layer labels (frontend/names.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { byLength, distinctLabels } from '../../frontend/names.js';

const ENCODER = [];
for (let block = 0; block < 4; block++) {
  for (const part of ['self_attn', 'self_attn.out_proj', 'linear1', 'linear2', 'norm1', 'norm2']) {
    ENCODER.push(`encoder.layers.${block}.${part}`);
  }
}
const DEEP = ['Reverser', 'embed', ...ENCODER, 'head'];

test('names that fit are kept whole', () => {
  assert.deepEqual(distinctLabels(['fc1', 'fc2', 'head'], byLength(10)), ['fc1', 'fc2', 'head']);
});

for (const width of [13, 16, 20, 24, 30, 40]) {
  test(`a deep encoder's labels are all different and fit in ${width} characters`, () => {
    const labels = distinctLabels(DEEP, byLength(width));
    assert.equal(new Set(labels).size, DEEP.length, labels.join(' | '));
    for (const label of labels) assert.ok(label.length <= width, `${label} is longer than ${width}`);
  });
}

test('a cut label keeps the end of the name, which tells layers apart', () => {
  const labels = distinctLabels(DEEP, byLength(20));
  DEEP.forEach((name, i) => {
    const label = labels[i];
    if (label === name) return;
    assert.ok(label.includes('…'), label);
    assert.ok(name.endsWith(label.split('…').pop()), `${label} does not end like ${name}`);
  });
  assert.equal(labels[DEEP.indexOf('encoder.layers.0.self_attn')].endsWith('0.self_attn'), true);
  assert.equal(labels[DEEP.indexOf('encoder.layers.1.self_attn.out_proj')].includes('1.'), true);
});

test('the tail grows while it fits: more of the name when there is room', () => {
  const [narrow] = distinctLabels(['encoder.layers.0.linear1', 'encoder.layers.1.linear1'], byLength(18));
  const [wide] = distinctLabels(['encoder.layers.0.linear1', 'encoder.layers.1.linear1'], byLength(23));
  assert.equal(narrow, 'encoder….0.linear1');
  assert.equal(wide, 'encoder….layers.0.linear1'.length <= 23 ? 'encoder….layers.0.linear1' : narrow);
});

test('a name without dots is cut in the middle, its end kept', () => {
  const [label] = distinctLabels(['averyveryverylongname_without_dots'], byLength(12));
  assert.ok(label.length <= 12 && label.includes('…'));
  assert.ok('averyveryverylongname_without_dots'.endsWith(label.split('…')[1]));
});
