// Pure data shaping for the NetViz dashboard: no DOM, no fetch, testable in node.
//
// The routes encode numbers JSON cannot hold as the strings "NaN", "Infinity"
// and "-Infinity", and "no value" (for gradients: the layer received no
// gradient) as null. Everything here keeps those three cases apart, because a
// layer without a gradient, a zero gradient and a NaN gradient mean three
// different things to the person debugging the network.

/** Cell kinds, shared by the heatmap, the bar chart and the legend. */
export const KIND = Object.freeze({ VALUE: 0, NONE: 1, NONFINITE: 2, BELOW: 3 });

/** Statistics whose size spans decades: drawn on a log axis when log scale is on. */
export const MAGNITUDE_STATS = new Set([
  'grad_l2',
  'grad_mean_abs',
  'grad_max_abs',
  'param_l2',
  'grad_to_param',
  'act_std',
  'act_max_abs',
]);

/** Statistics the vanishing / exploding bands apply to (the alert rules use gradient norms). */
export const BAND_STATS = new Set(['grad_l2', 'grad_mean_abs', 'grad_max_abs']);

/**
 * The gradient statistics of the format (tb_netviz.summary.columns.GRADIENT_STATS), in order.
 * Used until a run's own column list is known; columns are only ever appended to it.
 */
export const GRADIENT_STATS = Object.freeze([
  'grad_l2',
  'grad_mean_abs',
  'grad_max_abs',
  'param_l2',
  'grad_to_param',
  'grad_nonfinite',
  'has_grad',
]);

/** The two statistics the bar chart shows side by side. */
export const PAIR_STATS = Object.freeze(['grad_max_abs', 'grad_mean_abs']);

/**
 * The gradient columns the visible views need: the selected statistic, the
 * side-by-side pair when it is on, and has_grad where the route cannot say
 * "no gradient" by itself (it sends null for every other column, but keeps param_l2).
 * @example neededStats('grad_l2') // ['grad_l2']
 * @example neededStats('param_l2', {pair: true}) // ['param_l2', 'grad_max_abs', 'grad_mean_abs', 'has_grad']
 */
export function neededStats(stat, { pair = false } = {}) {
  const needed = [stat];
  if (pair) needed.push(...PAIR_STATS);
  if (stat === 'param_l2') needed.push('has_grad');
  return [...new Set(needed)];
}

/**
 * Whether `table` holds exactly the columns `stats` (in any order).
 * @example sameColumns({stats: ['a', 'b']}, ['b', 'a']) === true
 */
export function sameColumns(table, stats) {
  return Boolean(table) && table.stats.length === stats.length && stats.every((s) => table.stats.includes(s));
}

/**
 * Whether a periodic refresh may fetch only the steps after the table's last
 * one and append them, given the route's `sampling` entry for the table before
 * and now (`runs`). No when the table was thinned (`downsampled`), when
 * TensorBoard samples the run (it may have dropped kept steps), when the run
 * shrank or restarted, or when the appended table would exceed `maxSteps`.
 * @example canAppend({downsampled: false, steps: [0, 10]}, {kept: 2, first_step: 0, last_step: 10}, {kept: 3, first_step: 0, last_step: 20, sampled: false}, 500) === true
 */
export function canAppend(table, before, now, maxSteps) {
  if (!table || table.downsampled || !table.steps.length || !before || !now) return false;
  if (now.sampled) return false;
  if (!(now.kept >= before.kept) || now.first_step !== before.first_step) return false;
  if (!(now.last_step >= table.steps[table.steps.length - 1])) return false;
  return now.kept <= maxSteps;
}

/**
 * Append the decoded answer for the steps after `base`'s last step to `base`.
 * Returns the merged table, or null when the two cannot be joined (different
 * layers or columns, a thinned answer, steps out of order) or when the result
 * does not account for exactly the `now.kept` steps TensorBoard holds up to
 * `now.last_step` (steps were dropped or inserted): then refetch the whole table.
 * An increment without steps returns `base` itself.
 * @example appendSteps(base, decodeTable(answerAfterStep30), {kept: 6, last_step: 50}).steps // [0, 10, 20, 30, 40, 50]
 */
export function appendSteps(base, increment, now = null) {
  if (!base || !increment || base.downsampled || increment.downsampled) return null;
  if (!sameList(base.layers, increment.layers) || !sameList(base.stats, increment.stats)) return null;
  const last = base.steps.length ? base.steps[base.steps.length - 1] : -Infinity;
  if (increment.steps.length && !(increment.steps[0] > last)) return null;
  const steps = increment.steps.length ? base.steps.concat(increment.steps) : base.steps;
  if (now && typeof now.kept === 'number' && typeof now.last_step === 'number') {
    const held = steps.filter((step) => step <= now.last_step).length;
    if (held !== now.kept) return null;
  }
  if (!increment.steps.length) return base;
  return {
    ...base,
    steps,
    wallTimes: base.wallTimes.concat(increment.wallTimes),
    totalSteps: base.totalSteps + increment.totalSteps,
    downsampled: false,
    values: concatTyped(base.values, increment.values),
    missing: concatTyped(base.missing, increment.missing),
  };
}

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concatTyped(a, b) {
  const out = new a.constructor(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Default alert thresholds (tb_netviz.summary.alerts.AlertThresholds). */
export const DEFAULT_THRESHOLDS = Object.freeze({ vanishingRatio: 1e-4, explodingFactor: 10, patience: 3 });

const STAT_LABELS = {
  grad_l2: 'gradient L2 norm',
  grad_mean_abs: 'mean |g|',
  grad_max_abs: 'max |g|',
  param_l2: 'parameter L2 norm',
  grad_to_param: 'gradient / parameter norm',
  grad_nonfinite: 'non-finite gradient entries',
  has_grad: 'received a gradient (1/0)',
  act_mean: 'activation mean',
  act_std: 'activation std',
  act_zero_frac: 'fraction of zero activations',
  act_dead_frac: 'fraction of dead units',
  act_max_abs: 'max |activation|',
  act_nonfinite: 'non-finite activations',
};

/**
 * A human label for a statistic column; unknown columns keep their name.
 * @example statLabel('grad_max_abs') === 'max |g|'
 */
export function statLabel(stat) {
  return STAT_LABELS[stat] || stat;
}

/**
 * Decode one JSON number of the routes: a number, "NaN", "Infinity", "-Infinity" or null.
 * @example decodeNumber('NaN') // NaN
 * @example decodeNumber(null)  // null (no value)
 * @throws {TypeError} anything else, naming it.
 */
export function decodeNumber(value) {
  if (typeof value === 'number' || value === null) return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  throw new TypeError(`not a netviz number: ${JSON.stringify(value)}`);
}

/**
 * Decode a `gradient_flow` or `activations` answer into flat typed arrays.
 *
 * Returns {run, layers, stats, steps, wallTimes, totalSteps, downsampled,
 * values: Float64Array, missing: Uint8Array}; the cell of step i, layer j,
 * statistic k is at (i * layers.length + j) * stats.length + k. `missing` is 1
 * where the route sent null.
 * @example decodeTable({layers: ['fc'], stats: ['grad_l2'], steps: [0], values: [[[null]]]}).missing[0] === 1
 * @throws {TypeError} a malformed answer, saying which part.
 */
export function decodeTable(json) {
  const layers = requireArray(json, 'layers');
  const stats = requireArray(json, 'stats');
  const steps = requireArray(json, 'steps');
  const rows = requireArray(json, 'values');
  if (rows.length !== steps.length) {
    throw new TypeError(`values has ${rows.length} steps but steps has ${steps.length}`);
  }
  const L = layers.length;
  const K = stats.length;
  const values = new Float64Array(steps.length * L * K);
  const missing = new Uint8Array(steps.length * L * K);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row) || row.length !== L) {
      throw new TypeError(`values[${i}] must hold ${L} layers`);
    }
    for (let j = 0; j < L; j++) {
      const cells = row[j];
      if (!Array.isArray(cells) || cells.length !== K) {
        throw new TypeError(`values[${i}][${j}] must hold ${K} statistics`);
      }
      const base = (i * L + j) * K;
      for (let k = 0; k < K; k++) {
        const v = decodeNumber(cells[k]);
        if (v === null) {
          missing[base + k] = 1;
          values[base + k] = NaN;
        } else {
          values[base + k] = v;
        }
      }
    }
  }
  return {
    run: json.run,
    layers: layers.map(String),
    stats: stats.map(String),
    steps: steps.map(Number),
    wallTimes: Array.isArray(json.wall_times) ? json.wall_times.map(Number) : [],
    totalSteps: typeof json.total_steps === 'number' ? json.total_steps : steps.length,
    downsampled: Boolean(json.downsampled),
    alertThresholds: decodeThresholds(json.alert_thresholds),
    // the row of the model's own parameters (not a total); null for older logs
    modelLayer: typeof json.model_layer === 'string' && layers.includes(json.model_layer) ? json.model_layer : null,
    values,
    missing,
  };
}

/**
 * The `alert_thresholds` a run's table carries (written by the callbacks), in the
 * dashboard's names; null when absent or malformed (older logs).
 * @example decodeThresholds({vanishing_ratio: 1e-3, exploding_factor: 5, patience: 2}).explodingFactor === 5
 */
export function decodeThresholds(json) {
  if (!json || typeof json !== 'object') return null;
  const found = {
    vanishingRatio: json.vanishing_ratio,
    explodingFactor: json.exploding_factor,
    patience: json.patience,
  };
  const valid =
    typeof found.vanishingRatio === 'number' &&
    typeof found.explodingFactor === 'number' &&
    found.vanishingRatio > 0 &&
    found.vanishingRatio < 1 &&
    found.explodingFactor > 1 &&
    Number.isInteger(found.patience) &&
    found.patience >= 1;
  return valid ? found : null;
}

function requireArray(json, field) {
  if (!json || !Array.isArray(json[field])) {
    throw new TypeError(`the answer has no "${field}" list`);
  }
  return json[field];
}

/**
 * The kind of one cell: KIND.NONE (no gradient: null, or has_grad == 0),
 * KIND.NONFINITE (NaN or ±Infinity) or KIND.VALUE.
 */
export function cellKind(table, stepIndex, layerIndex, statIndex) {
  const K = table.stats.length;
  const base = (stepIndex * table.layers.length + layerIndex) * K;
  if (table.missing[base + statIndex]) return KIND.NONE;
  const hasGrad = table.stats.indexOf('has_grad');
  if (hasGrad >= 0 && !table.missing[base + hasGrad] && table.values[base + hasGrad] === 0) {
    return KIND.NONE;
  }
  return Number.isFinite(table.values[base + statIndex]) ? KIND.VALUE : KIND.NONFINITE;
}

/**
 * The value of one cell as the route sent it: a number (maybe NaN or ±Infinity) or null.
 */
export function cellValue(table, stepIndex, layerIndex, statIndex) {
  const index = (stepIndex * table.layers.length + layerIndex) * table.stats.length + statIndex;
  return table.missing[index] ? null : table.values[index];
}

/**
 * Index of a statistic in the table, or -1.
 */
export function statIndex(table, stat) {
  return table.stats.indexOf(stat);
}

/**
 * Whether `stat` is drawn on a log axis with the log-scale switch `log`.
 * @example usesLog('grad_l2', true) === true
 * @example usesLog('act_mean', true) === false   // a signed statistic
 */
export function usesLog(stat, log) {
  return Boolean(log) && MAGNITUDE_STATS.has(stat);
}

/**
 * Build the layers x steps heatmap of one statistic.
 *
 * Rows are layers (input at the top), columns are steps; `layers` (indices into
 * table.layers, in flow order) keeps only those rows, e.g. the filter's matches. `scaled`
 * holds the value on the colour axis (log10 when `log`), `kinds` the KIND of each cell;
 * on a log axis a value <= 0 is KIND.BELOW (below every decade). min / max are over
 * VALUE cells (NaN when there are none); `layerIndices[r]` is the table layer of row r.
 * `steps` ([first, last] indices into table.steps, inclusive) keeps only those columns (a
 * zoom); column c is then table step `firstStep + c`.
 * @example buildHeatmap(table, 'grad_l2', {log: true}).scaled.length === table.layers.length * table.steps.length
 */
export function buildHeatmap(table, stat, { log = true, layers = null, steps = null } = {}) {
  const k = statIndex(table, stat);
  if (k < 0) throw new RangeError(`statistic "${stat}" is not in this run (${table.stats.join(', ')})`);
  const L = table.layers.length;
  const layerIndices = layers ? Int32Array.from(layers) : Int32Array.from({ length: L }, (_, j) => j);
  const R = layerIndices.length;
  const first = steps ? steps[0] : 0;
  const S = steps ? steps[1] - steps[0] + 1 : table.steps.length;
  const K = table.stats.length;
  const logScale = usesLog(stat, log);
  const scaled = new Float32Array(R * S);
  const kinds = new Uint8Array(R * S);
  const { values, missing } = table;
  const hasGrad = table.stats.indexOf('has_grad');
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < S; i++) {
    for (let r = 0; r < R; r++) {
      const src = ((first + i) * L + layerIndices[r]) * K;
      const dst = r * S + i;
      const v = values[src + k];
      let kind;
      if (missing[src + k] || (hasGrad >= 0 && values[src + hasGrad] === 0 && !missing[src + hasGrad])) {
        kind = KIND.NONE;
      } else if (v !== v || v === Infinity || v === -Infinity) {
        kind = KIND.NONFINITE;
      } else if (logScale && v <= 0) {
        kind = KIND.BELOW;
      } else {
        kind = KIND.VALUE;
        const s = logScale ? Math.log10(v) : v;
        scaled[dst] = s;
        if (s < min) min = s;
        if (s > max) max = s;
      }
      kinds[dst] = kind;
    }
  }
  if (min === Infinity) {
    min = NaN;
    max = NaN;
  }
  return { rows: R, cols: S, firstStep: first, scaled, kinds, min, max, log: logScale, stat, layerIndices };
}

/**
 * The [first, last] indices of table.steps inside a zoom {from, to} (step numbers,
 * inclusive), or null for no zoom or a zoom that holds fewer than two kept steps.
 * @example zoomIndices([0, 10, 20, 30], {from: 5, to: 30}) // [1, 3]
 */
export function zoomIndices(steps, zoom) {
  if (!zoom || !steps.length) return null;
  let first = 0;
  while (first < steps.length && steps[first] < zoom.from) first++;
  let last = steps.length - 1;
  while (last >= 0 && steps[last] > zoom.to) last--;
  return last - first >= 1 ? [first, last] : null;
}

/**
 * The step the dashboard opens a run at: the last step, unless the run ends with
 * non-finite values of `stat` (it diverged). Then the first step of that final
 * non-finite stretch, where the blow-up shows which layers went first; a run whose
 * every step has a non-finite value opens at its first step.
 * @example openingStepIndex(divergedAtStep31Of60, 'grad_l2') === 31
 */
export function openingStepIndex(table, stat) {
  const S = table.steps.length;
  const k = statIndex(table, stat);
  if (!S || k < 0) return Math.max(0, S - 1);
  const nonfinite = (i) => table.layers.some((_, j) => cellKind(table, i, j, k) === KIND.NONFINITE);
  let i = S - 1;
  while (i >= 0 && nonfinite(i)) i--;
  return i === S - 1 ? S - 1 : i + 1;
}

/**
 * One layer's series of one statistic: {steps, values} with null for no value.
 */
export function layerSeries(table, layerIndex, stat) {
  const k = statIndex(table, stat);
  if (k < 0) return { steps: table.steps.slice(), values: table.steps.map(() => null), kinds: [] };
  const values = [];
  const kinds = [];
  for (let i = 0; i < table.steps.length; i++) {
    const kind = cellKind(table, i, layerIndex, k);
    kinds.push(kind);
    values.push(kind === KIND.NONE ? null : cellValue(table, i, layerIndex, k));
  }
  return { steps: table.steps.slice(), values, kinds };
}

/**
 * A series (layerSeries) cut to the zoomed step range {from, to}; the series itself without a zoom.
 * @example seriesInZoom({steps: [0, 10, 20], values: [1, 2, 3], kinds: [0, 0, 0]}, {from: 5, to: 20}).steps // [10, 20]
 */
export function seriesInZoom(series, zoom) {
  if (!zoom) return series;
  const keep = series.steps.map((s) => s >= zoom.from && s <= zoom.to);
  const kept = (list) => list.filter((_, i) => keep[i]);
  return { steps: kept(series.steps), values: kept(series.values), kinds: kept(series.kinds || []) };
}

/**
 * Reduce a series to at most `maxPoints` points for a sparkline, keeping each
 * bucket's minimum and maximum so spikes survive. Non-finite and null points
 * are skipped.
 * @example downsampleSeries([1, 5, 2, 8], 2) // [{index: 0, value: 1}, {index: 1, value: 5}, ...]
 */
export function downsampleSeries(values, maxPoints) {
  const points = [];
  const n = values.length;
  if (n <= maxPoints) {
    values.forEach((value, index) => {
      if (typeof value === 'number' && Number.isFinite(value)) points.push({ index, value });
    });
    return points;
  }
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets);
    let lo = null;
    let hi = null;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (lo === null || v < values[lo]) lo = i;
      if (hi === null || v > values[hi]) hi = i;
    }
    if (lo === null) continue;
    const pair = lo <= hi ? [lo, hi] : [hi, lo];
    for (const index of new Set(pair)) points.push({ index, value: values[index] });
  }
  return points;
}

/**
 * Alert thresholds in force for a run: those its table carries (the options the
 * callback ran with), else those carried by its alerts, else the defaults.
 */
export function runThresholds(table, alerts) {
  return (table && table.alertThresholds) || thresholdsFromAlerts(alerts);
}

/**
 * Alert thresholds carried by a run's alerts, else the defaults (logs older than
 * the thresholds in the table's metadata).
 */
export function thresholdsFromAlerts(alerts) {
  const found = { ...DEFAULT_THRESHOLDS };
  for (const alert of alerts || []) {
    const t = typeof alert.threshold === 'number' ? alert.threshold : null;
    if (t === null) continue;
    if (alert.kind === 'vanishing') found.vanishingRatio = t;
    if (alert.kind === 'exploding') found.explodingFactor = t;
  }
  return found;
}

/**
 * The bar chart at one step: one row per layer (input to output) with the
 * value and kind of each requested statistic, plus the bands of the alert rules.
 *
 * `vanishingBelow` is vanishingRatio x the largest finite value at the step
 * (the alert compares each layer with the largest layer, `largestLayer`); `explodingAbove`
 * per row is explodingFactor x the layer's moving average of the steps before
 * (null until the layer has `patience` steps of history), as the alert rule does.
 * Bands are null for statistics they do not apply to.
 */
export function barModel(table, stepIndex, stats, { thresholds = DEFAULT_THRESHOLDS } = {}) {
  const indices = stats.map((s) => statIndex(table, s));
  const rows = table.layers.map((layer, j) => ({
    layer,
    index: j,
    cells: stats.map((stat, n) => {
      const k = indices[n];
      if (k < 0) return { stat, value: null, kind: KIND.NONE };
      const kind = cellKind(table, stepIndex, j, k);
      return { stat, kind, value: kind === KIND.NONE ? null : cellValue(table, stepIndex, j, k) };
    }),
    explodingAbove: null,
  }));
  const bandStat = stats.find((s) => BAND_STATS.has(s) && statIndex(table, s) >= 0);
  let vanishingBelow = null;
  let largestLayer = null;
  if (bandStat) {
    const k = statIndex(table, bandStat);
    let largest = 0;
    table.layers.forEach((_, j) => {
      if (cellKind(table, stepIndex, j, k) === KIND.VALUE && cellValue(table, stepIndex, j, k) > largest) {
        largest = cellValue(table, stepIndex, j, k);
        largestLayer = table.layers[j];
      }
    });
    vanishingBelow = largest > 0 ? largest * thresholds.vanishingRatio : null;
    rows.forEach((row, j) => {
      const average = movingAverage(table, j, k, stepIndex, thresholds.patience);
      row.explodingAbove = average === null ? null : average * thresholds.explodingFactor;
    });
  }
  return {
    step: table.steps[stepIndex],
    stats,
    rows,
    bandStat: bandStat || null,
    vanishingBelow,
    largestLayer,
    thresholds,
  };
}

// The exploding rule's reference: an exponential moving average (decay 0.9) of the
// layer's finite values before this step; null with less than `patience` of them. Built
// once per table and column for every layer and step (a step change then costs nothing).
const AVERAGES = new WeakMap();

function movingAverage(table, layerIndex, k, stepIndex, patience) {
  let byColumn = AVERAGES.get(table);
  if (!byColumn) AVERAGES.set(table, (byColumn = new Map()));
  let cached = byColumn.get(k);
  if (!cached) byColumn.set(k, (cached = averagesBefore(table, k)));
  const at = stepIndex * table.layers.length + layerIndex;
  const average = cached.average[at];
  return cached.count[at] >= patience && average > 0 ? average : null;
}

// average[i * L + j], count[i * L + j]: the EMA of layer j's finite values at steps < i, and how many.
function averagesBefore(table, k) {
  const L = table.layers.length;
  const S = table.steps.length;
  const average = new Float64Array(S * L);
  const count = new Uint32Array(S * L);
  for (let j = 0; j < L; j++) {
    let ema = null;
    let n = 0;
    for (let i = 0; i < S; i++) {
      average[i * L + j] = ema === null ? NaN : ema;
      count[i * L + j] = n;
      if (cellKind(table, i, j, k) !== KIND.VALUE) continue;
      const v = cellValue(table, i, j, k);
      ema = ema === null ? v : 0.9 * ema + 0.1 * v;
      n++;
    }
  }
  return { average, count };
}

/**
 * The [min, max] of finite values over the bar rows (positive values only on a log axis).
 */
export function barDomain(model, log) {
  let min = Infinity;
  let max = -Infinity;
  for (const row of model.rows) {
    for (const cell of row.cells) {
      if (cell.kind !== KIND.VALUE || (log && cell.value <= 0)) continue;
      min = Math.min(min, cell.value);
      max = Math.max(max, cell.value);
    }
  }
  if (min === Infinity) return log ? [1e-8, 1] : [0, 1];
  if (log) {
    if (model.vanishingBelow) min = Math.min(min, model.vanishingBelow / 10);
    const lo = Math.pow(10, Math.floor(Math.log10(min)));
    const hi = Math.pow(10, Math.ceil(Math.log10(max)));
    return [lo, hi > lo ? hi : lo * 10];
  }
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  return [lo, hi > lo ? hi : lo + 1];
}

/**
 * Position of `value` in [0, 1] along a domain, linear or log10; clamped.
 * @example axisFraction(10, [1, 100], true) === 0.5
 */
export function axisFraction(value, [lo, hi], log) {
  let t;
  if (log) {
    if (!(value > 0)) return 0;
    t = (Math.log10(value) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  } else {
    t = (value - lo) / (hi - lo);
  }
  return Math.min(1, Math.max(0, t));
}

/**
 * A fraction of an axis as a CSS percentage, clamped to 0..1.
 * @example pct(0.5) // '50.000%'
 */
export function pct(fraction) {
  return `${(Math.min(1, Math.max(0, fraction)) * 100).toFixed(3)}%`;
}

/**
 * Where one lane (of `lanes`, one per series or run) of a bar row is drawn: `top` and `height`
 * of its band, and for a value the bar's `left` and `width`, from zero (the axis start on a
 * log axis) to `value`, never thinner than 0.3 % so a tiny value still shows.
 * @example barLane(5, [0, 10], false, 1, 2)
 * // {top: '50%', height: '50%', left: '0.000%', width: '50.000%'}
 */
export function barLane(value, domain, log, lane, lanes) {
  const start = log ? 0 : axisFraction(0, domain, log);
  const end = axisFraction(value, domain, log);
  return {
    top: `${(lane / lanes) * 100}%`,
    height: `${100 / lanes}%`,
    left: pct(Math.min(start, end)),
    width: pct(Math.max(0.003, Math.abs(end - start))),
  };
}

/**
 * Tick values for an axis: decades on a log axis, round numbers otherwise.
 * @example axisTicks([1e-3, 1], true) // [0.001, 0.01, 0.1, 1]
 */
export function axisTicks([lo, hi], log, count = 5) {
  if (log) {
    const a = Math.ceil(Math.log10(lo) - 1e-9);
    const b = Math.floor(Math.log10(hi) + 1e-9);
    const every = Math.max(1, Math.ceil((b - a + 1) / (count + 1)));
    const ticks = [];
    for (let e = a; e <= b; e += every) ticks.push(Number(`1e${e}`));
    return ticks;
  }
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count) || 10 * magnitude;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/**
 * The dashboard's one number formatter, used by every view (bars, captions, axes,
 * tooltips): three significant digits, exponent form below 1e-3 and from 1e4 on,
 * whole numbers under 100,000 in full; "NaN", "+∞", "−∞", and `noneLabel` for no value.
 * @example formatShort(0.000123456) === '1.23e-4'
 * @example formatShort(33308070000000000000) === '3.33e19'
 * @example formatShort(0.13022949250000002) === '0.13'
 * @example formatShort(1105) === '1105'
 */
export function formatShort(value, noneLabel = 'no gradient') {
  if (value === null || value === undefined) return noneLabel;
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+∞';
  if (value === -Infinity) return '−∞';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (Number.isInteger(value) && abs < 1e5) return String(value);
  if (abs >= 1e4 || abs < 1e-3) {
    const [mantissa, exponent] = value.toExponential(2).split('e');
    return `${Number(mantissa)}e${Number(exponent)}`;
  }
  return String(Number(value.toPrecision(3)));
}

/**
 * The exact value as the route sent it (shortest round-trip form): for data attributes
 * and exports, never for reading on screen (see formatShort).
 * @example formatExact(0.1) === '0.1'
 */
export function formatExact(value, noneLabel = 'no gradient') {
  if (value === null || value === undefined) return noneLabel;
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return String(value);
}

/**
 * Index of the step in `steps` nearest to `step` (ties: the earlier one); -1 when empty.
 * @example nearestStepIndex([0, 10, 20], 14) === 1
 */
export function nearestStepIndex(steps, step) {
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
 * The layers a filter query keeps, as indices in flow order. The query is one or more
 * alternatives separated by `|`; an alternative keeps a layer whose name contains each of
 * its space-separated words (case-insensitive), where a word may use the globs `*` (any
 * run of characters) and `?` (one character). An empty query keeps every layer.
 * @example filterLayers(['enc.fc', 'dec.fc', 'enc.norm'], 'enc fc') // [0]
 * @example filterLayers(['l.linear1', 'l.norm1', 'l.attn'], 'linear|norm') // [0, 1]
 * @example filterLayers(['l.linear1', 'l.linear2', 'l.norm'], 'linear*') // [0, 1]
 */
export function filterLayers(layers, query) {
  const alternatives = String(query || '')
    .toLowerCase()
    .split('|')
    .map((part) => part.split(/\s+/).filter(Boolean).map(wordMatcher))
    .filter((words) => words.length);
  const matches = [];
  layers.forEach((name, index) => {
    const lower = name.toLowerCase();
    if (!alternatives.length || alternatives.some((words) => words.every((match) => match(lower))))
      matches.push(index);
  });
  return matches;
}

function wordMatcher(word) {
  if (!/[*?]/.test(word)) return (name) => name.includes(word);
  const source = word
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const pattern = new RegExp(source);
  return (name) => pattern.test(name);
}

/**
 * The state of each layer at one step, for the layer list's badge:
 * 'none' | 'nonfinite' | 'ok', using the statistic `stat`.
 */
export function layerStates(table, stepIndex, stat) {
  const k = statIndex(table, stat);
  return table.layers.map((_, j) => {
    if (k < 0) return 'ok';
    const kind = cellKind(table, stepIndex, j, k);
    return kind === KIND.NONE ? 'none' : kind === KIND.NONFINITE ? 'nonfinite' : 'ok';
  });
}

/**
 * Decode an `alerts` answer: alerts sorted by step (oldest first), with
 * per-layer counts and the count the writer left out.
 */
export function decodeAlerts(json) {
  const list = Array.isArray(json && json.alerts) ? json.alerts : [];
  const alerts = list
    .filter((a) => a && typeof a === 'object')
    .map((a) => ({
      kind: String(a.kind || 'alert'),
      layer: String(a.layer ?? ''),
      step: Number(a.step),
      value: a.value === null || a.value === undefined ? null : decodeNumber(a.value),
      threshold: a.threshold === null || a.threshold === undefined ? null : decodeNumber(a.threshold),
      message: String(a.message || ''),
    }))
    .sort((x, y) => x.step - y.step);
  const byLayer = new Map();
  for (const alert of alerts) byLayer.set(alert.layer, (byLayer.get(alert.layer) || 0) + 1);
  return { alerts, byLayer, omitted: Number(json && json.omitted) || 0 };
}

const ALERT_TITLES = {
  nonfinite: 'non-finite gradient',
  vanishing: 'vanishing gradient',
  exploding: 'exploding gradient',
  dead_units: 'dead units',
};

/** A short title for an alert kind. */
export function alertTitle(kind) {
  return ALERT_TITLES[kind] || kind;
}

/**
 * What the user should know about sampling, or null: TensorBoard keeping only
 * some of the written steps, or the route thinning the kept steps.
 */
export function samplingNotes(runInfo, table) {
  const notes = [];
  const sampling = runInfo && runInfo.sampling && runInfo.sampling.gradient_flow;
  if (sampling && sampling.sampled) {
    const expected = sampling.expected ? ` of about ${sampling.expected}` : '';
    notes.push(
      `TensorBoard kept ${sampling.kept}${expected} logged steps. ` +
        'Start it with --samples_per_plugin=netviz=0 to keep all.',
    );
  }
  if (table && table.downsampled) {
    notes.push(
      `Showing ${table.steps.length} of ${table.totalSteps} steps, evenly spaced ` +
        '(the first, the last and every alert step are always shown).',
    );
  }
  return notes;
}

/**
 * The plugin's messages about data of the run it could not read (for example,
 * written by a newer tb-netviz), as notes for the user.
 * @example runProblems({problems: ['upgrade tb-netviz']}) // ['upgrade tb-netviz']
 */
export function runProblems(runInfo) {
  const problems = runInfo && Array.isArray(runInfo.problems) ? runInfo.problems : [];
  return problems.map(String);
}

/**
 * A value that changes whenever a run gains steps or alerts: used by the
 * periodic refresh to decide whether to reload.
 */
export function runSignature(runInfo) {
  if (!runInfo) return '';
  const s = (runInfo.sampling && runInfo.sampling.gradient_flow) || {};
  return [
    s.kept,
    s.last_step,
    runInfo.alerts,
    (runInfo.attention_layers || []).length,
    (runInfo.feature_map_layers || []).length,
    runInfo.activations,
  ].join('|');
}

/**
 * Decode one `attention?step=` answer and reduce it to one matrix:
 * head index `head` (0-based) or 'mean' (the mean over heads).
 * Returns {rows, cols, values: Float32Array, min, max, rowLabels, colLabels}.
 * Labels fall back to position numbers when the run has no tokens.
 */
export function attentionMatrix(json, head = 'mean') {
  const values = requireArray(json, 'values');
  const H = values.length;
  if (H === 0) throw new TypeError('the attention answer has no heads');
  const Q = values[0].length;
  const Kn = Q ? values[0][0].length : 0;
  const heads = head === 'mean' ? [...Array(H).keys()] : [Number(head)];
  for (const h of heads) {
    if (!(h >= 0 && h < H)) throw new RangeError(`head ${head} does not exist (this layer has ${H})`);
  }
  const out = new Float64Array(Q * Kn);
  let min = Infinity;
  let max = -Infinity;
  for (let q = 0; q < Q; q++) {
    for (let k = 0; k < Kn; k++) {
      let sum = 0;
      for (const h of heads) sum += decodeNumber(values[h][q][k]) ?? NaN;
      const v = sum / heads.length;
      out[q * Kn + k] = v;
      if (Number.isFinite(v)) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
  }
  const rowLabels = tokenLabels(json.query_tokens || json.tokens, Q);
  const colLabels = tokenLabels(json.key_tokens || json.tokens, Kn);
  if (min === Infinity) {
    min = 0;
    max = 1;
  }
  return { rows: Q, cols: Kn, heads: H, values: out, min, max, rowLabels, colLabels };
}

function tokenLabels(tokens, n) {
  if (Array.isArray(tokens) && tokens.length === n) return tokens.map(String);
  return Array.from({ length: n }, (_, i) => String(i));
}

/**
 * Heatmap cell under a point, from the cell grid's pixel size: {row, col} or null.
 * @example cellAt(15, 5, {width: 100, height: 10, rows: 2, cols: 10}) // {row: 1, col: 1}
 */
export function cellAt(x, y, { width, height, rows, cols }) {
  if (x < 0 || y < 0 || x >= width || y >= height || !rows || !cols) return null;
  return {
    row: Math.min(rows - 1, Math.floor((y / height) * rows)),
    col: Math.min(cols - 1, Math.floor((x / width) * cols)),
  };
}
