// Specifications of the weights and embedding shaping (frontend/learned_shape.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { hexToRgb, SPECIAL_COLOURS } from '../../frontend/colors.js';

import {
  NEGATIVE,
  POSITIVE,
  ZERO,
  boundsOf,
  decodeEmbedding,
  decodeWeights,
  divergingRgb,
  ease,
  interpolate,
  kernelGrid,
  labelColour,
  legendEntries,
  nearestPoint,
  pointText,
  poolScale,
  project,
  rgbKernelPixels,
  toPixels,
  varianceText,
  weightAt,
  weightCaption,
  weightPixels,
} from '../../frontend/learned_shape.js';

test('the diverging scale is centred on zero and keeps the sign', () => {
  assert.deepEqual(divergingRgb(0, 3), [...ZERO]);
  assert.deepEqual(divergingRgb(3, 3), [...POSITIVE]);
  assert.deepEqual(divergingRgb(-9, 3), [...NEGATIVE]);
  assert.deepEqual(divergingRgb(NaN, 3), hexToRgb(SPECIAL_COLOURS.nonfinite));
  const half = divergingRgb(-1.5, 3);
  assert.deepEqual(half, [140, 175, 210]);
});

test('a kernel grid puts output channels in rows and input channels in columns with gaps', () => {
  // 2 outputs x 3 inputs of 1x2 kernels: value = 10*o + i, sign by x
  const values = [];
  for (let o = 0; o < 2; o++) for (let i = 0; i < 3; i++) values.push(10 * o + i, -(10 * o + i));
  const decoded = decodeWeights({ layout: 'kernel', shape: [2, 3, 1, 2], values: [values], scale: 12 });
  const pixels = weightPixels(decoded);
  assert.equal(pixels.width, 3 * 3 - 1);
  assert.equal(pixels.height, 2 * 2 - 1);
  const at = (x, y) => Array.from(pixels.data.slice((y * pixels.width + x) * 4, (y * pixels.width + x) * 4 + 4));
  assert.deepEqual(at(3, 2), [...divergingRgb(11, 12), 255]); // output 1, input 1, x 0
  assert.deepEqual(at(4, 2), [...divergingRgb(-11, 12), 255]);
  assert.deepEqual(at(2, 0), [0, 0, 0, 0]); // the gap between input columns
  assert.deepEqual(weightAt(decoded, 7, 2), { output: 1, input: 2, y: 0, x: 1, value: -12 });
  assert.equal(weightAt(decoded, 2, 0), null);
});

test('kernels of one input channel fill a near-square grid row by row, not one tall column', () => {
  // 10 outputs x 1 input of 3x3 kernels: value = output index
  const values = [];
  for (let o = 0; o < 10; o++) for (let k = 0; k < 9; k++) values.push(o);
  const decoded = decodeWeights({ layout: 'kernel', shape: [10, 1, 3, 3], values: [values], scale: 9 });
  const grid = kernelGrid(10, 1);
  assert.deepEqual([grid.rows, grid.columns], [3, 4]);
  const pixels = weightPixels(decoded);
  assert.equal(pixels.width, 4 * 4 - 1);
  assert.equal(pixels.height, 3 * 4 - 1);
  const at = (x, y) => Array.from(pixels.data.slice((y * pixels.width + x) * 4, (y * pixels.width + x) * 4 + 4));
  // output 5 is in the second row, second column; output 9 in the third row, second column
  assert.deepEqual(at(4 + 1, 4 + 1), [...divergingRgb(5, 9), 255]);
  assert.deepEqual(at(4, 8), [...divergingRgb(9, 9), 255]);
  assert.deepEqual(at(8, 8), [0, 0, 0, 0]); // the two unused slots stay empty
  assert.deepEqual(weightAt(decoded, 5, 5), { output: 5, input: 0, y: 1, x: 1, value: 5 });
  assert.equal(weightAt(decoded, 9, 9), null);
  assert.equal(weightAt(decoded, 3, 0), null); // a gap
  const caption = weightCaption({ layout: 'kernel', out_channels: 10, in_channels: 1, shown: [10, 1], kernel_size: [3, 3], dims: 2 });
  assert.equal(caption, '10 of 10 output channels, 4 a row (one input channel), 3×3 kernels');
});

test('a single kernel of one input channel is one tile; several inputs keep rows and columns', () => {
  assert.deepEqual([kernelGrid(1, 1).rows, kernelGrid(1, 1).columns], [1, 1]);
  const grid = kernelGrid(4, 2);
  assert.deepEqual([grid.rows, grid.columns, grid.kernel(3, 1), grid.kernel(4, 0)], [4, 2, [3, 1], null]);
});

test('a pooled matrix draws the chosen pool with its own scale', () => {
  const decoded = decodeWeights({
    layout: 'matrix',
    shape: [2, 1, 2],
    values: [[[4, -2]], [[0.5, 'NaN']]],
    scale: 4,
  });
  assert.equal(poolScale(decoded, 0), 4);
  assert.equal(poolScale(decoded, 1), 0.5);
  const mean = weightPixels({ ...decoded, scale: poolScale(decoded, 1) }, 1);
  assert.deepEqual(Array.from(mean.data.slice(0, 4)), [...POSITIVE, 255]);
  assert.deepEqual(Array.from(mean.data.slice(4, 8)), [...hexToRgb(SPECIAL_COLOURS.nonfinite), 255]);
  assert.deepEqual(weightAt(decoded, 1, 0, 1).value, NaN);
});

test('a weights answer whose values do not fit its shape is refused', () => {
  assert.throws(() => decodeWeights({ layout: 'matrix', shape: [1, 2, 2], values: [[[1, 2]]] }), /2 values/);
});

test('captions say what the rows and columns are, the slice of a 3-D kernel and the pooling', () => {
  const kernel = { layout: 'kernel', out_channels: 8, in_channels: 2, shown: [8, 2], kernel_size: [3, 3, 3], dims: 3, depth_slice: 1 };
  assert.match(weightCaption(kernel), /the middle depth slice \(2 of 3\)/);
  const pooled = { layout: 'matrix', rows: 4096, cols: 1024, block: [16, 4] };
  assert.equal(weightCaption(pooled), '4096 output units (rows) × 1024 input units (columns), pooled in blocks of 16×4');
});

const EMBEDDING = {
  run: 'r',
  layer: 'fc',
  of: 'input',
  label_source: 'predicted',
  steps: [0, 100],
  points: [
    [[0, 0, 0], [2, 0, 0]],
    [[-1, 1, 0], [3, 'NaN', 1]],
  ],
  labels: [[1, -1], [1, 0]],
  explained_variance: [[0.5, 0.25, 0.125], [0.6, 0.3, 0.1]],
};

test('an embedding answer becomes frames of points, labels and variance', () => {
  const decoded = decodeEmbedding(EMBEDDING);
  assert.equal(decoded.frames.length, 2);
  assert.deepEqual(Array.from(decoded.frames[1].points.slice(0, 3)), [-1, 1, 0]);
  assert.ok(Number.isNaN(decoded.frames[1].points[4]));
  assert.equal(decoded.labelSource, 'predicted');
  assert.equal(varianceText(decoded.frames[0].variance), 'explained variance: pc1 50% · pc2 25% · pc3 13%');
});

test('the points move smoothly from one step to the next', () => {
  const [a, b] = decodeEmbedding(EMBEDDING).frames;
  assert.deepEqual(Array.from(interpolate(a.points, b.points, 0)), Array.from(a.points));
  assert.deepEqual(Array.from(interpolate(a.points, b.points, 0.5)).slice(0, 4), [-0.5, 0.5, 0, 2.5]);
  assert.ok(Number.isNaN(interpolate(a.points, b.points, 0.75)[4]));
  assert.deepEqual(Array.from(interpolate(a.points, a.points, 0.3)), Array.from(a.points));
  assert.equal(ease(0), 0);
  assert.equal(ease(1), 1);
  assert.ok(ease(0.25) < 0.25 && ease(0.75) > 0.75);
});

test('the 2-D view plots pc1 against pc2 in one box for all steps', () => {
  const { frames } = decodeEmbedding(EMBEDDING);
  const bounds = boundsOf(frames, '2d');
  assert.deepEqual(bounds, { cx: 0.5, cy: 0.5, half: 1.5 }); // the NaN point is left out
  const pixels = toPixels(project(frames[0].points, '2d'), bounds, 104, 2);
  assert.ok(Math.abs(pixels.px[0] - (2 + 100 / 3)) < 1e-9 && Math.abs(pixels.py[0] - (102 - 100 / 3)) < 1e-9);
  assert.equal(nearestPoint(pixels, 36, 68), 0);
  assert.equal(nearestPoint(pixels, 0, 0), -1);
});

test('the 3-D view rotates the cloud without changing distances', () => {
  const points = Float64Array.of(1, 2, 3, -1, 0, 2);
  const turned = project(points, '3d', 1.1, 0.4);
  const norm = (i) => Math.hypot(turned.x[i], turned.y[i], turned.depth[i]);
  assert.ok(Math.abs(norm(0) - Math.hypot(1, 2, 3)) < 1e-12);
  assert.ok(Math.abs(norm(1) - Math.hypot(-1, 0, 2)) < 1e-12);
  const flat = project(points, '2d');
  assert.deepEqual([flat.x[1], flat.y[1]], [-1, 0]);
});

test('labels get stable colours and a legend with counts; hover text names sample and class', () => {
  assert.equal(labelColour(3), labelColour(13));
  assert.notEqual(labelColour(3), labelColour(4));
  assert.deepEqual(
    legendEntries([1, -1, 1]).map((e) => [e.text, e.count]),
    [
      ['unknown', 1],
      ['1', 2],
    ],
  );
  assert.equal(pointText(2, 5, 'sample_labels'), 'sample #2 · class 5');
  assert.equal(pointText(0, -1, 'none'), 'sample #0 · class unknown');
});

test('kernels with 3 input channels become colour pictures on one scale, mid-grey at zero', () => {
  // 2 outputs x 3 inputs of 1x1 kernels
  const decoded = decodeWeights({ layout: 'kernel', shape: [2, 3, 1, 1], values: [2, 0, -2, 1, 1, 1], scale: 2 });
  const pixels = rgbKernelPixels(decoded);
  assert.equal(pixels.width, 3);
  assert.deepEqual(Array.from(pixels.data.slice(0, 4)), [255, 128, 0, 255]);
  assert.deepEqual(Array.from(pixels.data.slice(4, 8)), [0, 0, 0, 0]); // the gap
  assert.deepEqual(Array.from(pixels.data.slice(8, 12)), [191, 191, 191, 255]);
  assert.equal(rgbKernelPixels({ layout: 'kernel', shape: [1, 2, 1, 1], values: [0, 0] }), null);
});
