// Specifications of the heatmap's colour range (frontend/range.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { KNEE_AT, colourDomain, colourPosition, mergeDomains, outside } from '../../frontend/range.js';
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

// The diverged run's shape: four layers flat for 25 steps, then growing six decades a step for
// six steps, then NaN/Inf to the end (log10 values, as the heatmap holds them).
function divergedHeatmap() {
  const cols = 40;
  const values = [];
  const kinds = [];
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < cols; c++) {
      const nonfinite = c >= 31;
      values.push(nonfinite ? 0 : c < 25 ? 1.8 + 0.01 * ((c * 7 + r) % 10) : 1.8 + 6 * (c - 24));
      kinds.push(nonfinite ? KIND.NONFINITE : KIND.VALUE);
    }
  }
  return heatmap(4, cols, values, kinds);
}

test('growth that runs into NaN/Inf is kept on the robust axis, bent at the fence, not clipped', () => {
  const map = divergedHeatmap();
  const domain = colourDomain(map, 'robust');
  assert.ok(domain.knee !== null && domain.knee < 3, `knee ${domain.knee} should be the upper fence`);
  assert.equal(domain.hi, map.max);
  assert.equal(domain.above, 0);
  // every step of the climb has its own place on the scale, increasing, above the knee
  const places = [25, 26, 27, 28, 29, 30].map((c) => colourPosition(domain, map.scaled[c]));
  places.forEach((p, i) => assert.ok(i === 0 || p > places[i - 1] + 0.04, `places ${places}`));
  assert.ok(places[0] > KNEE_AT && places[5] === 1);
  // the flat steps keep the lower part of the scale to themselves, with contrast
  const flat = Array.from({ length: 25 }, (_, c) => colourPosition(domain, map.scaled[c]));
  assert.ok(Math.max(...flat) - Math.min(...flat) > 0.2 && Math.max(...flat) <= KNEE_AT);
});

test('one isolated spike is still an outlier: clipped, counted, the axis not bent', () => {
  const values = Array.from({ length: 100 }, (_, i) => 1 + (i % 10) / 10);
  values[50] = 30;
  const domain = colourDomain(heatmap(1, 100, values), 'robust');
  assert.equal(domain.knee, null);
  assert.ok(domain.hi < 5, `hi ${domain.hi}`);
  assert.equal(domain.above, 1);
});

test('a spike above the climb into NaN/Inf stays clipped while the climb is kept', () => {
  const map = divergedHeatmap();
  map.scaled[40 + 10] = 80; // a flat step of row 1, far above everything
  map.max = 80;
  const domain = colourDomain(map, 'robust');
  assert.ok(domain.hi < 80 && domain.hi > 30, `hi ${domain.hi}`);
  assert.equal(domain.above, 1);
});

test('a bent axis maps its knee to KNEE_AT, its ends to 0 and 1; an unbent one is linear', () => {
  const bent = { lo: 0, hi: 10, knee: 2 };
  assert.equal(colourPosition(bent, 0), 0);
  assert.equal(colourPosition(bent, 2), KNEE_AT);
  assert.equal(colourPosition(bent, 10), 1);
  assert.ok(Math.abs(colourPosition(bent, 6) - (KNEE_AT + (1 - KNEE_AT) / 2)) < 1e-12);
  assert.equal(colourPosition({ lo: 0, hi: 10, knee: null }, 5), 0.5);
  assert.equal(colourPosition(bent, 99), 1);
});

test('a comparison bends its one axis where the highest unbent part ends', () => {
  const merged = mergeDomains([
    { lo: 1, hi: 2.5, knee: null },
    { lo: 1.5, hi: 37, knee: 2 },
  ]);
  assert.deepEqual([merged.lo, merged.hi, merged.knee], [1, 37, 2.5]);
  assert.equal(mergeDomains([{ lo: 0, hi: 1, knee: null }]).knee, null);
  assert.equal(mergeDomains([]), null);
});
