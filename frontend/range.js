// The heatmap's colour range. Pure: no DOM, testable in node.
//
// A run that blows up puts cells decades above everything else; a colour axis
// over the full range then paints the whole healthy part one colour. The default
// ("robust") axis leaves out the extreme outliers, by Tukey's rule: values more
// than 3 interquartile ranges beyond the quartiles (on the colour axis, so log10
// for magnitudes). Cells beyond it take the end colours and are counted, so the
// legend says so. One exception: a layer's values that climb past the upper fence
// and run straight into NaN/Inf are the divergence the user is looking for, not
// outliers. Then the axis goes on to the largest of them, bent at the fence: the
// fenced range keeps the lower KNEE_AT of the colour scale (the healthy steps keep
// their contrast), the growth takes the rest (each decade of it its own colour).
// "full" spans every finite value; "layer" gives each row its own axis.

import { KIND } from './shape.js';

/** The colour-range modes, in the order the toolbar offers them. */
export const RANGE_MODES = Object.freeze(['robust', 'full', 'layer']);

/** What each mode is called on screen. */
export const RANGE_LABELS = Object.freeze({
  robust: 'robust (no extreme outliers)',
  full: 'full range',
  layer: 'per layer',
});

const BINS = 4096;
const FENCE = 3;
/** Where on the colour scale (0..1) a bent axis puts its knee: the upper fence. */
export const KNEE_AT = 0.7;

/**
 * The colour axis of a heatmap (shape.buildHeatmap) in `mode`.
 *
 * Returns {mode, lo, hi, knee, below, above, rowDomains}: lo/hi on the heatmap's scale
 * (log10 when it is log); knee, null unless "robust" kept a growth into NaN/Inf above
 * its upper fence (then the fence, where the axis bends, see colourPosition); the number
 * of value cells below lo and above hi (drawn at the ends); and for "layer" a
 * Float64Array of each row's lo, hi (NaN for a row without values).
 * @example colourDomain({rows: 1, cols: 3, scaled: Float32Array.of(0, 1, 2), kinds: new Uint8Array(3), min: 0, max: 2}, 'full') // {lo: 0, hi: 2, knee: null, below: 0, above: 0, ...}
 * @throws {RangeError} an unknown mode, naming the known ones.
 */
export function colourDomain(heatmap, mode = 'robust') {
  if (!RANGE_MODES.includes(mode))
    throw new RangeError(`unknown colour range "${mode}" (known: ${RANGE_MODES.join(', ')})`);
  const { min, max } = heatmap;
  const base = { mode, lo: min, hi: max, knee: null, below: 0, above: 0, rowDomains: null };
  if (!Number.isFinite(min) || !Number.isFinite(max)) return base;
  if (mode === 'full') return base;
  if (mode === 'layer') return { ...base, rowDomains: rowDomains(heatmap) };
  const [lo, fence] = robustBounds(heatmap);
  const growth = fence < max ? growthIntoNonfinite(heatmap, fence) : -Infinity;
  const hi = growth > fence ? growth : fence;
  const { below, above } = countOutside(heatmap, lo, hi);
  return { ...base, lo, hi, knee: growth > fence ? fence : null, below, above };
}

/**
 * Where a value (on the heatmap's scale) falls on the colour scale, 0..1, clamped: linear
 * from lo to hi, or bent at the knee (lo..knee -> 0..KNEE_AT, knee..hi -> KNEE_AT..1).
 * @example colourPosition({lo: 0, hi: 10, knee: 1}, 1) === KNEE_AT
 */
export function colourPosition({ lo, hi, knee }, value) {
  const t =
    knee === null || knee === undefined
      ? (value - lo) / (hi - lo || 1)
      : value <= knee
        ? ((value - lo) / (knee - lo || 1)) * KNEE_AT
        : KNEE_AT + ((value - knee) / (hi - knee || 1)) * (1 - KNEE_AT);
  return Math.min(1, Math.max(0, t));
}

/**
 * One colour axis over several heatmaps' axes (the runs of a comparison): from the lowest lo
 * to the highest hi, bent where the highest of the unbent parts ends when any axis is bent.
 * Returns null for no axes.
 * @example mergeDomains([{mode: 'robust', lo: 0, hi: 2, knee: null}, {mode: 'robust', lo: 1, hi: 30, knee: 3}]) // {lo: 0, hi: 30, knee: 3, ...}
 */
export function mergeDomains(domains, mode = 'robust') {
  if (!domains.length) return null;
  const lo = Math.min(...domains.map((d) => d.lo));
  const hi = Math.max(...domains.map((d) => d.hi));
  const bent = domains.some((d) => d.knee !== null && d.knee !== undefined);
  const knee = bent ? Math.max(...domains.map((d) => d.knee ?? d.hi)) : null;
  return { mode, lo, hi, knee: knee !== null && knee < hi ? knee : null, below: 0, above: 0, rowDomains: null };
}

// The largest value of any stretch of a row's cells above the fence that runs, without a
// gap, into a NaN/Inf cell: a layer climbing until it diverged. -Infinity for none.
function growthIntoNonfinite({ rows, cols, scaled, kinds }, fence) {
  let top = -Infinity;
  for (let r = 0; r < rows; r++) {
    let climb = -Infinity;
    for (let p = r * cols, end = p + cols; p < end; p++) {
      if (kinds[p] === KIND.VALUE && scaled[p] > fence) {
        if (scaled[p] > climb) climb = scaled[p];
        continue;
      }
      if (kinds[p] === KIND.NONFINITE && climb > top) top = climb;
      climb = -Infinity;
    }
  }
  return top;
}

// Tukey's outer fences from the quartiles of the value cells, taken from a histogram
// (one pass over any number of cells), kept inside [min, max].
function robustBounds({ scaled, kinds, min, max }) {
  if (!(max > min)) return [min, max];
  const counts = new Uint32Array(BINS);
  const scale = BINS / (max - min);
  let n = 0;
  for (let p = 0; p < kinds.length; p++) {
    if (kinds[p] !== KIND.VALUE) continue;
    let b = ((scaled[p] - min) * scale) | 0;
    if (b >= BINS) b = BINS - 1;
    counts[b]++;
    n++;
  }
  const quantile = (q) => {
    const target = q * n;
    let seen = 0;
    for (let b = 0; b < BINS; b++) {
      if (seen + counts[b] >= target && counts[b]) return min + (b + (target - seen) / counts[b]) / scale;
      seen += counts[b];
    }
    return max;
  };
  const q1 = quantile(0.25);
  const q3 = quantile(0.75);
  const spread = Math.max(q3 - q1, (max - min) / BINS);
  const lo = Math.max(min, q1 - FENCE * spread);
  const hi = Math.min(max, q3 + FENCE * spread);
  return hi > lo ? [lo, hi] : [min, max];
}

function countOutside({ scaled, kinds }, lo, hi) {
  let below = 0;
  let above = 0;
  for (let p = 0; p < kinds.length; p++) {
    if (kinds[p] !== KIND.VALUE) continue;
    if (scaled[p] < lo) below++;
    else if (scaled[p] > hi) above++;
  }
  return { below, above };
}

function rowDomains({ rows, cols, scaled, kinds }) {
  const out = new Float64Array(rows * 2).fill(NaN);
  for (let r = 0; r < rows; r++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let p = r * cols, end = p + cols; p < end; p++) {
      if (kinds[p] !== KIND.VALUE) continue;
      const v = scaled[p];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo <= hi) {
      out[2 * r] = lo;
      out[2 * r + 1] = hi;
    }
  }
  return out;
}

/**
 * Whether a value cell lies beyond the colour axis: -1 below, 1 above, 0 inside.
 * @example outside({lo: 0, hi: 1, rowDomains: null}, 2, 0) === 1
 */
export function outside(domain, value, row) {
  if (domain.rowDomains) return 0;
  if (value < domain.lo) return -1;
  if (value > domain.hi) return 1;
  return 0;
}
