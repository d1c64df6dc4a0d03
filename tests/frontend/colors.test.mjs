// Specifications of the colour scale and the heatmap painter (frontend/colors.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  SPECIAL_COLOURS,
  VIRIDIS,
  colourAt,
  heatmapPixels,
  hexToRgb,
  lightness,
  matrixPixels,
} from '../../frontend/colors.js';
import { KIND } from '../../frontend/shape.js';

function lutColour(i) {
  return [VIRIDIS[i * 3], VIRIDIS[i * 3 + 1], VIRIDIS[i * 3 + 2]];
}

test('the scale has 256 colours from dark purple to yellow', () => {
  assert.equal(VIRIDIS.length, 256 * 3);
  assert.equal(colourAt(0), '#440154');
  assert.equal(colourAt(1), '#fde725');
  assert.equal(colourAt(-3), '#440154');
  assert.equal(colourAt(NaN), '#440154');
});

test('the scale is perceptually ordered: lightness rises at a near-constant rate', () => {
  const steps = [];
  for (let i = 1; i < 256; i++) steps.push(lightness(lutColour(i)) - lightness(lutColour(i - 1)));
  // Neighbouring entries may round to the same 8-bit colour; they must never get darker.
  assert.ok(
    steps.every((d) => d > -0.01),
    'lightness must rise monotonically (readable in grey and by every viewer)',
  );
  const mean = steps.reduce((a, b) => a + b) / steps.length;
  // Over ~16-step windows (what a viewer tells apart), the rate stays within 2x of the mean.
  for (let i = 0; i + 16 <= steps.length; i += 16) {
    const window = steps.slice(i, i + 16).reduce((a, b) => a + b) / 16;
    assert.ok(window > mean / 2 && window < mean * 2, `lightness rate at ${i} is ${window} vs mean ${mean}`);
  }
});

test('special cells stand apart from the scale', () => {
  for (const hex of Object.values(SPECIAL_COLOURS)) {
    for (let i = 0; i < 256; i++) {
      const [r, g, b] = hexToRgb(hex);
      const [R, G, B] = lutColour(i);
      assert.ok(
        Math.abs(r - R) + Math.abs(g - G) + Math.abs(b - B) > 60,
        `${hex} is too close to scale entry ${i}`,
      );
    }
  }
});

test('heatmapPixels paints min, max and the special kinds', () => {
  const heatmap = {
    rows: 1,
    cols: 5,
    min: -2,
    max: 2,
    scaled: new Float32Array([-2, 2, 0, 0, 0]),
    kinds: new Uint8Array([KIND.VALUE, KIND.VALUE, KIND.NONE, KIND.NONFINITE, KIND.BELOW]),
  };
  const px = heatmapPixels(heatmap);
  const at = (p) => [px[p * 4], px[p * 4 + 1], px[p * 4 + 2], px[p * 4 + 3]];
  assert.deepEqual(at(0), [...hexToRgb('#440154'), 255]);
  assert.deepEqual(at(1), [...hexToRgb('#fde725'), 255]);
  assert.deepEqual(at(2), [...hexToRgb(SPECIAL_COLOURS.none), 255]);
  assert.deepEqual(at(3), [...hexToRgb(SPECIAL_COLOURS.nonfinite), 255]);
  assert.deepEqual(at(4), [...hexToRgb(SPECIAL_COLOURS.below), 255]);
});

test('heatmapPixels clamps values outside a given domain', () => {
  const heatmap = {
    rows: 1,
    cols: 2,
    min: 0,
    max: 1,
    scaled: new Float32Array([-5, 5]),
    kinds: new Uint8Array(2),
  };
  const px = heatmapPixels(heatmap, { domain: [0, 1] });
  assert.deepEqual([px[0], px[1], px[2]], hexToRgb('#440154'));
  assert.deepEqual([px[4], px[5], px[6]], hexToRgb('#fde725'));
});

test('heatmapPixels bends the axis at a knee: the knee value takes the colour at its place', () => {
  const heatmap = {
    rows: 1,
    cols: 3,
    min: 0,
    max: 10,
    scaled: new Float32Array([0, 2, 10]),
    kinds: new Uint8Array(3),
  };
  const px = heatmapPixels(heatmap, { domain: [0, 10], knee: { value: 2, at: 0.5 } });
  assert.deepEqual([px[0], px[1], px[2]], hexToRgb('#440154'));
  assert.deepEqual([px[4], px[5], px[6]], hexToRgb(colourAt(0.5)));
  assert.deepEqual([px[8], px[9], px[10]], hexToRgb('#fde725'));
});

test('an all-special heatmap still paints (no NaN domain)', () => {
  const heatmap = {
    rows: 1,
    cols: 1,
    min: NaN,
    max: NaN,
    scaled: new Float32Array(1),
    kinds: new Uint8Array([KIND.NONE]),
  };
  assert.deepEqual([...heatmapPixels(heatmap).slice(0, 3)], hexToRgb(SPECIAL_COLOURS.none));
});

test('matrixPixels paints non-finite attention weights as non-finite', () => {
  const px = matrixPixels(new Float32Array([0, 1, NaN]), [0, 1]);
  assert.deepEqual([px[8], px[9], px[10]], hexToRgb(SPECIAL_COLOURS.nonfinite));
  assert.deepEqual([px[4], px[5], px[6]], hexToRgb('#fde725'));
});

// The render time of this size is measured in bench/bench_frontend.py, not here.
test('painting 500 layers x 1000 steps colours every cell from its own value', () => {
  const rows = 500;
  const cols = 1000;
  const scaled = new Float32Array(rows * cols).map((_, i) => (i % 2 ? 1 : -1));
  const kinds = new Uint8Array(rows * cols);
  kinds[rows * cols - 1] = KIND.NONFINITE;
  const pixels = heatmapPixels({ rows, cols, min: -1, max: 1, scaled, kinds });
  assert.equal(pixels.length, rows * cols * 4);
  assert.deepEqual([...pixels.slice(0, 3)], hexToRgb('#440154'));
  assert.deepEqual([...pixels.slice(4, 7)], hexToRgb('#fde725'));
  assert.deepEqual([...pixels.slice(-4, -1)], hexToRgb(SPECIAL_COLOURS.nonfinite));
  assert.ok(pixels.every((value, i) => i % 4 !== 3 || value === 255));
});
