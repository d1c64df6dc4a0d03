// Specifications of the heatmap's colour range (frontend/range.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { colourDomain, outside } from '../../frontend/range.js';
import { KIND } from '../../frontend/shape.js';

function heatmap(rows, cols, values, kinds = null) {
  const scaled = Float32Array.from(values);
  const k = kinds ? Uint8Array.from(kinds) : new Uint8Array(values.length);
  let min = Infinity;
  let max = -Infinity;
  scaled.forEach((v, i) => {
    if (k[i] !== KIND.VALUE) return;
    min = Math.min(min, v);
    max = Math.max(max, v);
  });
  return { rows, cols, scaled, kinds: k, min, max };
}

test('the robust range leaves out a blow-up decades above the rest and counts the cells beyond it', () => {
  // 90 healthy cells between 1 and 2 decades, then 10 cells growing to 1e34
  const values = Array.from({ length: 90 }, (_, i) => 1 + (i % 10) / 10);
  for (let i = 0; i < 10; i++) values.push(3 + i * 3.5);
  const domain = colourDomain(heatmap(1, 100, values), 'robust');
  assert.ok(domain.lo >= 1 && domain.lo < 1.2, `lo ${domain.lo}`);
  assert.ok(domain.hi < 5, `hi ${domain.hi} should leave the blow-up out`);
  assert.ok(domain.above >= 9, `above ${domain.above}`);
  assert.equal(domain.below, 0);
  assert.equal(outside(domain, 30), 1);
  assert.equal(outside(domain, 1.5), 0);
});

test('without outliers the robust range is the full range', () => {
  const values = Array.from({ length: 50 }, (_, i) => i / 10);
  const domain = colourDomain(heatmap(5, 10, values), 'robust');
  assert.equal(domain.lo, 0);
  assert.ok(Math.abs(domain.hi - 4.9) < 1e-6);
  assert.equal(domain.below + domain.above, 0);
});

test('non-finite and no-gradient cells take no part in the range', () => {
  const domain = colourDomain(heatmap(1, 4, [1, 2, 1e30, -5], [0, 0, KIND.NONFINITE, KIND.NONE]), 'full');
  assert.deepEqual([domain.lo, domain.hi], [1, 2]);
});

test('per-layer mode gives every row its own range; a row without values has none', () => {
  const domain = colourDomain(heatmap(3, 2, [1, 3, 10, 20, 0, 0], [0, 0, 0, 0, 2, 2]), 'layer');
  assert.deepEqual(Array.from(domain.rowDomains.slice(0, 4)), [1, 3, 10, 20]);
  assert.ok(Number.isNaN(domain.rowDomains[4]) && Number.isNaN(domain.rowDomains[5]));
});

test('an unknown mode is refused, naming the known ones', () => {
  assert.throws(() => colourDomain(heatmap(1, 1, [1]), 'percentile'), /robust, full, layer/);
});
