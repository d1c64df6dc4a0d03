// Pure shaping of the "what the network has learned" data (weights and embedding routes,
// tb_netviz/plugin/http_api.md): the zero-centred diverging colour map, the pixels of a
// kernel grid or a weight heatmap, and the embedding's frames, projection and labels.
// No DOM: tested with node.

import { hexToRgb, SPECIAL_COLOURS } from './colors.js';
import { decodeNumber } from './shape.js';

// The same colours as the PNGs the callbacks write (tb_netviz/summary/weight_images.py):
// negative blue, zero near-white, positive red.
export const NEGATIVE = Object.freeze([33, 102, 172]);
export const ZERO = Object.freeze([247, 247, 247]);
export const POSITIVE = Object.freeze([178, 24, 43]);
// NaN and ±Infinity in the dashboard's non-finite colour (as in the heatmap and feature maps).
export const NON_FINITE = Object.freeze(hexToRgb(SPECIAL_COLOURS.nonfinite));
export const POOL_LABELS = Object.freeze({ value: 'value', extreme: 'largest |w| (sign kept)', mean: 'mean' });
// Ten categorical colours (Tableau 10) for point labels; an unknown label (-1) is grey.
export const LABEL_COLOURS = Object.freeze([
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
]);
export const UNKNOWN_COLOUR = '#808080';

/**
 * `value / scale` clamped to [-1, 1] as [r, g, b]; NaN and ±Infinity are `NON_FINITE`.
 * @example divergingRgb(-2, 2) // [33, 102, 172]
 */
export function divergingRgb(value, scale) {
  if (!Number.isFinite(value)) return [...NON_FINITE];
  const t = Math.max(-1, Math.min(1, scale > 0 ? value / scale : 0));
  const end = t < 0 ? NEGATIVE : POSITIVE;
  const f = Math.abs(t);
  return [0, 1, 2].map((c) => Math.round(ZERO[c] + (end[c] - ZERO[c]) * f));
}

/**
 * Decode one step of the `weights` route: {step, view, layout, shape, scale, values: Float64Array, ...}.
 * @throws {TypeError} values that do not match `shape`.
 */
export function decodeWeights(body) {
  const shape = body.shape;
  if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new TypeError(`weights: bad shape ${JSON.stringify(shape)}`);
  }
  const flat = body.values.flat(Infinity).map((v) => {
    const n = decodeNumber(v);
    return n === null ? NaN : n;
  });
  const size = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== size) throw new TypeError(`weights: ${flat.length} values for shape ${shape.join('x')}`);
  return { ...body, values: Float64Array.from(flat) };
}

/**
 * Where the tiles of [outs, ins] kernels go: a row per output channel and a column per input
 * channel; with one input channel (a first convolution on grey images, a depthwise one) the
 * output channels fill a near-square grid row by row instead of one tall column.
 * Returns {rows, columns, slot(o, i) -> [row, column], kernel(row, column) -> [o, i] | null}.
 * @example kernelGrid(16, 1).columns === 4
 * @example kernelGrid(8, 3).slot(2, 1) // [2, 1]
 */
export function kernelGrid(outs, ins) {
  if (ins === 1 && outs > 1) {
    const columns = Math.ceil(Math.sqrt(outs));
    return {
      rows: Math.ceil(outs / columns),
      columns,
      slot: (o) => [Math.floor(o / columns), o % columns],
      kernel: (row, column) => {
        const o = row * columns + column;
        return column < columns && o < outs ? [o, 0] : null;
      },
    };
  }
  return {
    rows: outs,
    columns: ins,
    slot: (o, i) => [o, i],
    kernel: (row, column) => (row < outs && column < ins ? [row, column] : null),
  };
}

/**
 * The RGBA pixels of a weights step: a kernel as a grid of kh x kw tiles (kernelGrid, 1-pixel
 * transparent gaps), or the matrix of one pool. Returns {width, height, data: Uint8ClampedArray}.
 * @example weightPixels({layout: 'matrix', shape: [1, 1, 2], values: [1, -1], scale: 1}).width === 2
 */
export function weightPixels(decoded, pool = 0) {
  const { shape, values, scale } = decoded;
  if (decoded.layout === 'kernel') {
    const [outs, ins, kh, kw] = shape;
    const grid = kernelGrid(outs, ins);
    const width = grid.columns * (kw + 1) - 1;
    const height = grid.rows * (kh + 1) - 1;
    const data = new Uint8ClampedArray(width * height * 4);
    for (let o = 0; o < outs; o++) {
      for (let i = 0; i < ins; i++) {
        const [row, column] = grid.slot(o, i);
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            const v = values[((o * ins + i) * kh + y) * kw + x];
            paint(data, (row * (kh + 1) + y) * width + column * (kw + 1) + x, divergingRgb(v, scale));
          }
        }
      }
    }
    return { width, height, data };
  }
  const [, rows, cols] = shape;
  const data = new Uint8ClampedArray(rows * cols * 4);
  const offset = pool * rows * cols;
  for (let k = 0; k < rows * cols; k++) paint(data, k, divergingRgb(values[offset + k], scale));
  return { width: cols, height: rows, data };
}

/**
 * Kernels of a layer with 3 input channels as colour pictures, one per output channel in a row
 * (1-pixel gaps): a weight w becomes 0.5 + w / (2 max|w|) in its colour channel, as in the
 * Images tab's netviz/kernel_rgb PNG. Returns {width, height, data} or null without 3 inputs.
 * @example rgbKernelPixels({layout: 'kernel', shape: [1, 3, 1, 1], values: [1, 0, -1]}).data.slice(0, 4) // [255, 128, 0, 255]
 */
export function rgbKernelPixels(decoded) {
  if (decoded.layout !== 'kernel' || decoded.shape[1] !== 3) return null;
  const [outs, , kh, kw] = decoded.shape;
  let top = 0;
  for (const v of decoded.values) if (Number.isFinite(v)) top = Math.max(top, Math.abs(v));
  const width = outs * (kw + 1) - 1;
  const data = new Uint8ClampedArray(width * kh * 4);
  for (let o = 0; o < outs; o++) {
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        const rgb = [0, 1, 2].map((c) => {
          const v = decoded.values[((o * 3 + c) * kh + y) * kw + x];
          const t = top > 0 && Number.isFinite(v) ? 0.5 + v / (2 * top) : 0.5;
          return Math.round(t * 255);
        });
        paint(data, y * width + o * (kw + 1) + x, rgb);
      }
    }
  }
  return { width, height: kh, data };
}

function paint(data, pixel, [r, g, b]) {
  data.set([r, g, b, 255], pixel * 4);
}

/**
 * The scale of one pool of a matrix step (the route's `scale` covers every pool).
 * @example poolScale({layout: 'matrix', shape: [2, 1, 2], values: [1, -3, 0.5, 0.25], scale: 3}, 1) === 0.5
 */
export function poolScale(decoded, pool) {
  if (decoded.layout === 'kernel') return decoded.scale;
  const [, rows, cols] = decoded.shape;
  let top = 0;
  for (let k = pool * rows * cols; k < (pool + 1) * rows * cols; k++) {
    const v = Math.abs(decoded.values[k]);
    if (Number.isFinite(v) && v > top) top = v;
  }
  return top;
}

/**
 * The weight under a pixel of `weightPixels`, with what it is, or null in a gap.
 * @example weightAt({layout: 'kernel', shape: [1, 2, 1, 1], values: [5, 7]}, 2, 0).input === 1
 */
export function weightAt(decoded, x, y, pool = 0) {
  const { shape, values } = decoded;
  if (decoded.layout === 'kernel') {
    const [outs, ins, kh, kw] = shape;
    const ty = y % (kh + 1);
    const tx = x % (kw + 1);
    if (ty >= kh || tx >= kw || x < 0 || y < 0) return null;
    const found = kernelGrid(outs, ins).kernel(Math.floor(y / (kh + 1)), Math.floor(x / (kw + 1)));
    if (!found) return null;
    const [o, i] = found;
    return { output: o, input: i, y: ty, x: tx, value: values[((o * ins + i) * kh + ty) * kw + tx] };
  }
  const [, rows, cols] = shape;
  if (x < 0 || y < 0 || x >= cols || y >= rows) return null;
  return { row: y, col: x, value: values[(pool * rows + y) * cols + x] };
}

/**
 * What a kernel grid or heatmap shows, in words.
 * @example weightCaption({layout: 'kernel', out_channels: 32, in_channels: 3, shown: [16, 3], kernel_size: [3, 3], dims: 2})
 *   === '16 of 32 output channels (rows) × 3 of 3 input channels (columns), 3×3 kernels'
 */
export function weightCaption(index) {
  if (index.layout === 'kernel') {
    const [outs, ins] = index.shown;
    const size = index.kernel_size.join('×');
    const grid = kernelGrid(outs, ins);
    const base =
      grid.columns === ins
        ? `${outs} of ${index.out_channels} output channels (rows) × ${ins} of ${index.in_channels} input channels (columns), ${size} kernels`
        : `${outs} of ${index.out_channels} output channels, ${grid.columns} a row (one input channel), ${size} kernels`;
    if (index.dims === 3) return `${base}; the middle depth slice (${index.depth_slice + 1} of ${index.kernel_size[0]})`;
    if (index.dims === 1) return `${base}, each one row high`;
    return base;
  }
  const pooled = index.block && (index.block[0] > 1 || index.block[1] > 1);
  const base = `${index.rows} output units (rows) × ${index.cols} input units (columns)`;
  return pooled ? `${base}, pooled in blocks of ${index.block[0]}×${index.block[1]}` : base;
}

/**
 * Decode the `embedding` route: frames of Float64Array points [N * 3], labels and variance.
 * @throws {TypeError} frames of different sample counts.
 */
export function decodeEmbedding(body) {
  const frames = body.steps.map((step, s) => {
    const rows = body.points[s];
    const points = new Float64Array(rows.length * 3);
    rows.forEach((row, n) => row.forEach((v, k) => (points[n * 3 + k] = decodeNumber(v) ?? NaN)));
    return {
      step,
      points,
      labels: body.labels[s],
      variance: body.explained_variance[s].map((v) => decodeNumber(v) ?? NaN),
    };
  });
  const counts = new Set(frames.map((f) => f.labels.length));
  if (counts.size > 1) throw new TypeError('embedding: the steps have different sample counts');
  return { run: body.run, layer: body.layer, of: body.of, labelSource: body.label_source, frames };
}

/**
 * Points between two frames: `t` = 0 gives `a`, 1 gives `b`.
 * @example Array.from(interpolate(Float64Array.of(0, 0, 0), Float64Array.of(2, 4, 6), 0.5)) // [1, 2, 3]
 */
export function interpolate(a, b, t) {
  const out = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) {
    // A point that is not finite at one end jumps at half-way instead of vanishing all along.
    if (Number.isFinite(a[k]) && Number.isFinite(b[k])) out[k] = a[k] + (b[k] - a[k]) * t;
    else out[k] = t < 0.5 ? a[k] : b[k];
  }
  return out;
}

/**
 * Smooth start and stop for the animation between steps.
 * @example ease(0.5) === 0.5
 */
export function ease(t) {
  const c = Math.max(0, Math.min(1, t));
  return c * c * (3 - 2 * c);
}

/**
 * Screen-independent 2-D coordinates of [N * 3] points: (pc1, pc2) in '2d'; in '3d' the cloud
 * turned by `yaw` about the vertical axis and tilted by `pitch`, orthographic, with a depth.
 * Returns {x, y, depth} Float64Arrays.
 */
export function project(points, mode, yaw = 0.6, pitch = 0.35) {
  const n = points.length / 3;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const depth = new Float64Array(n);
  const [cy, sy, cp, sp] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch)];
  for (let i = 0; i < n; i++) {
    const [a, b, c] = [points[i * 3], points[i * 3 + 1], points[i * 3 + 2]];
    if (mode !== '3d') {
      x[i] = a;
      y[i] = b;
      continue;
    }
    const rx = a * cy + c * sy;
    const rz = -a * sy + c * cy;
    x[i] = rx;
    y[i] = b * cp - rz * sp;
    depth[i] = b * sp + rz * cp;
  }
  return { x, y, depth };
}

/**
 * One square box around every frame's points, so the axes stay still while the cloud moves.
 * In '3d' it is the cloud's radius in every direction (any rotation stays inside).
 * @example boundsOf([{points: Float64Array.of(-1, 2, 0, 3, -2, 0)}], '2d') // {cx: 1, cy: 0, half: 2}
 */
export function boundsOf(frames, mode) {
  let lo = [Infinity, Infinity];
  let hi = [-Infinity, -Infinity];
  let radius = 0;
  for (const { points } of frames) {
    for (let i = 0; i < points.length; i += 3) {
      const p = [points[i], points[i + 1], points[i + 2]];
      if (!p.every(Number.isFinite)) continue;
      lo = [Math.min(lo[0], p[0]), Math.min(lo[1], p[1])];
      hi = [Math.max(hi[0], p[0]), Math.max(hi[1], p[1])];
      radius = Math.max(radius, Math.hypot(...p));
    }
  }
  if (!Number.isFinite(lo[0])) return { cx: 0, cy: 0, half: 1 };
  if (mode === '3d') return { cx: 0, cy: 0, half: radius || 1 };
  const half = Math.max(hi[0] - lo[0], hi[1] - lo[1]) / 2 || 1;
  return { cx: (lo[0] + hi[0]) / 2, cy: (lo[1] + hi[1]) / 2, half };
}

/**
 * Pixel positions in a `size` x `size` square with `pad` pixels of margin (y grows upwards).
 * @example toPixels({x: [1], y: [1], depth: [0]}, {cx: 0, cy: 0, half: 1}, 100, 0).px[0] === 100
 */
export function toPixels(projected, bounds, size, pad = 12) {
  const span = (size - 2 * pad) / (2 * bounds.half);
  const px = Float64Array.from(projected.x, (v) => pad + (v - bounds.cx + bounds.half) * span);
  const py = Float64Array.from(projected.y, (v) => size - pad - (v - bounds.cy + bounds.half) * span);
  return { px, py, depth: projected.depth };
}

/**
 * The colour of a point's label.
 * @example labelColour(-1) === '#808080'
 */
export function labelColour(label) {
  return Number.isInteger(label) && label >= 0 ? LABEL_COLOURS[label % LABEL_COLOURS.length] : UNKNOWN_COLOUR;
}

/**
 * The legend: each label of the frame, sorted, with its colour and count.
 * @example legendEntries([2, 0, 2])[1] // {label: 2, colour: '#e15759', count: 2, text: '2'}
 */
export function legendEntries(labels) {
  const counts = new Map();
  for (const label of labels) counts.set(label, (counts.get(label) || 0) + 1);
  return [...counts.keys()]
    .sort((a, b) => a - b)
    .map((label) => ({
      label,
      colour: labelColour(label),
      count: counts.get(label),
      text: label < 0 ? 'unknown' : String(label),
    }));
}

/**
 * What the labels are, for the legend's title.
 * @example labelSourceText('predicted') === 'predicted class'
 */
export function labelSourceText(source) {
  if (source === 'sample_labels') return 'true class (sample_labels)';
  if (source === 'predicted') return 'predicted class';
  return 'no class known';
}

/**
 * The hover text of one point.
 * @example pointText(4, 7, 'predicted') === 'sample #4 · predicted class 7'
 */
export function pointText(index, label, source) {
  const what = source === 'sample_labels' ? 'class' : source === 'predicted' ? 'predicted class' : 'class';
  return `sample #${index} · ${what} ${label < 0 ? 'unknown' : label}`;
}

/**
 * The index of the point nearest to (x, y) within `radius` pixels, or -1.
 * @example nearestPoint({px: [0, 10], py: [0, 10]}, 9, 9, 5) === 1
 */
export function nearestPoint(pixels, x, y, radius = 8) {
  let best = -1;
  let bestDistance = radius * radius;
  for (let i = 0; i < pixels.px.length; i++) {
    const d = (pixels.px[i] - x) ** 2 + (pixels.py[i] - y) ** 2;
    if (d <= bestDistance) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The explained-variance line of a frame.
 * @example varianceText([0.41, 0.2, 0.05]) === 'explained variance: pc1 41% · pc2 20% · pc3 5%'
 */
export function varianceText(variance) {
  const parts = variance.map((v, k) => `pc${k + 1} ${Number.isFinite(v) ? Math.round(v * 100) : '?'}%`);
  return `explained variance: ${parts.join(' · ')}`;
}
