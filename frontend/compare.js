// Comparing runs: layers aligned by name, steps by number, run colours, and the
// ratio of two runs' statistic. Pure: no DOM, testable in node.

import { KIND, cellKind, cellValue, statIndex } from './shape.js';

/**
 * TensorBoard's default run colours (its "Default" palette, light and dark theme),
 * given to runs in TensorBoard's run order, so a run has the colour it has in the
 * Scalars tab (unless it was recoloured there).
 */
export const RUN_PALETTE = Object.freeze([
  { light: '#425066', dark: '#8e98a3' },
  { light: '#12b5cb', dark: '#12b5cb' },
  { light: '#e52592', dark: '#e52592' },
  { light: '#f9ab00', dark: '#f9ab00' },
  { light: '#9334e6', dark: '#9334e6' },
  { light: '#7cb342', dark: '#7cb342' },
  { light: '#e8710a', dark: '#e8710a' },
]);

/**
 * A run's colour: its place in `order` (TensorBoard's run list) picks the palette entry.
 * A run missing from `order` comes after all of them.
 * @example runColour('b', ['a', 'b'], 'light') === '#12b5cb'
 */
export function runColour(run, order, theme = 'light') {
  let index = order.indexOf(run);
  if (index < 0) index = order.length;
  const entry = RUN_PALETTE[index % RUN_PALETTE.length];
  return theme === 'dark' ? entry.dark : entry.light;
}

/**
 * The layers runs share, in the first run's flow order, and for each run the shared-by-
 * others layers it lacks and the layers only it has.
 * @example alignLayers([{run: 'a', layers: ['x', 'y']}, {run: 'b', layers: ['y', 'z']}]).shared // ['y']
 */
export function alignLayers(tables) {
  const sets = tables.map((t) => new Set(t.layers));
  const shared = tables.length ? tables[0].layers.filter((name) => sets.every((set) => set.has(name))) : [];
  const sharedSet = new Set(shared);
  const all = new Set(tables.flatMap((t) => t.layers));
  const missing = new Map();
  const only = new Map();
  tables.forEach((t, i) => {
    missing.set(
      t.run,
      [...all].filter((name) => !sets[i].has(name)),
    );
    only.set(
      t.run,
      t.layers.filter((name) => !sharedSet.has(name) && sets.every((set, k) => k === i || !set.has(name))),
    );
  });
  return { shared, missing, only };
}

/**
 * A sentence naming the layers left out of a comparison, or '' when the runs share all.
 * @example layerNote(alignLayers([{run: 'a', layers: ['x', 'y']}, {run: 'b', layers: ['x']}])) // 'Compared over the 1 layer the runs share. Not in b: y.'
 */
export function layerNote(alignment, maxNames = 6) {
  const parts = [];
  for (const [run, names] of alignment.missing) {
    if (!names.length) continue;
    const shown = names.slice(0, maxNames).join(', ');
    const more = names.length > maxNames ? ` and ${names.length - maxNames} more` : '';
    parts.push(`Not in ${run}: ${shown}${more}.`);
  }
  if (!parts.length) return '';
  const n = alignment.shared.length;
  return `Compared over the ${n} layer${n === 1 ? '' : 's'} the runs share. ${parts.join(' ')}`;
}

/**
 * One statistic of the shared `layers` at one step of every run: rows of
 * {layer, cells: [{run, step, value, kind}]}, the run's step being the one nearest `step`
 * (runs log at their own steps).
 */
export function compareAtStep(tables, layers, stat, step) {
  const picks = tables.map((t) => {
    const i = nearestIndex(t.steps, step);
    return { table: t, i, k: statIndex(t, stat), index: new Map(t.layers.map((n, j) => [n, j])) };
  });
  return layers.map((layer) => ({
    layer,
    cells: picks.map(({ table, i, k, index }) => {
      const j = index.get(layer);
      if (i < 0 || k < 0 || j === undefined)
        return { run: table.run, step: null, value: null, kind: KIND.NONE };
      const kind = cellKind(table, i, j, k);
      return {
        run: table.run,
        step: table.steps[i],
        value: kind === KIND.NONE ? null : cellValue(table, i, j, k),
        kind,
      };
    }),
  }));
}

/**
 * The ratio `other / base` of a statistic over the shared `layers` and the steps both
 * runs logged (within `zoom`, {from, to} step numbers, when given), as a heatmap on a
 * log10 axis: {rows, cols, steps, layers, scaled, kinds,
 * min, max}. A cell is KIND.NONFINITE where either value is NaN/Inf, KIND.NONE where
 * either has no value, KIND.BELOW where either is zero or negative (no ratio on a log axis).
 * @example ratioHeatmap(a, b, 'grad_l2', ['fc']).scaled[0] === Math.log10(bValue / aValue)
 */
export function ratioHeatmap(base, other, stat, layers, zoom = null) {
  const kb = statIndex(base, stat);
  const ko = statIndex(other, stat);
  const otherStep = new Map(other.steps.map((s, i) => [s, i]));
  const pairs = [];
  const shown = (s) => !zoom || (s >= zoom.from && s <= zoom.to);
  base.steps.forEach((s, i) => {
    if (otherStep.has(s) && shown(s)) pairs.push([i, otherStep.get(s)]);
  });
  const rows = layers.length;
  const cols = pairs.length;
  const scaled = new Float32Array(rows * cols);
  const kinds = new Uint8Array(rows * cols);
  const jb = layers.map((n) => base.layers.indexOf(n));
  const jo = layers.map((n) => other.layers.indexOf(n));
  let min = Infinity;
  let max = -Infinity;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const [ib, io] = pairs[c];
      const p = r * cols + c;
      const a = kb < 0 || jb[r] < 0 ? KIND.NONE : cellKind(base, ib, jb[r], kb);
      const b = ko < 0 || jo[r] < 0 ? KIND.NONE : cellKind(other, io, jo[r], ko);
      if (a === KIND.NONFINITE || b === KIND.NONFINITE) kinds[p] = KIND.NONFINITE;
      else if (a === KIND.NONE || b === KIND.NONE) kinds[p] = KIND.NONE;
      else {
        const va = cellValue(base, ib, jb[r], kb);
        const vb = cellValue(other, io, jo[r], ko);
        if (!(va > 0) || !(vb > 0)) {
          kinds[p] = KIND.BELOW;
          continue;
        }
        const v = Math.log10(vb / va);
        scaled[p] = v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
  }
  if (min === Infinity) {
    min = NaN;
    max = NaN;
  }
  return { rows, cols, steps: pairs.map(([i]) => base.steps[i]), layers, scaled, kinds, min, max, log: true };
}

function nearestIndex(steps, step) {
  let best = -1;
  let distance = Infinity;
  for (let i = 0; i < steps.length; i++) {
    const d = Math.abs(steps[i] - step);
    if (d < distance) {
      best = i;
      distance = d;
    }
  }
  return best;
}

/**
 * A diverging scale for ratios on a log axis (blue below 1x, white at 1x, red above),
 * as a 256-entry LUT like colors.buildLut; readable for the common colour-vision deficiencies.
 */
export function ratioLut(size = 256) {
  const stops = [
    [33, 102, 172],
    [103, 169, 207],
    [209, 229, 240],
    [247, 247, 247],
    [253, 219, 199],
    [239, 138, 98],
    [178, 24, 43],
  ];
  const lut = new Uint8Array(size * 3);
  for (let i = 0; i < size; i++) {
    const t = (i / (size - 1)) * (stops.length - 1);
    const a = Math.min(stops.length - 2, Math.floor(t));
    const f = t - a;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(stops[a][c] * (1 - f) + stops[a + 1][c] * f);
  }
  return lut;
}
