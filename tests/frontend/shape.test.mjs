// Specifications of the dashboard's data shaping (frontend/shape.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  GRADIENT_STATS,
  KIND,
  alertTitle,
  appendSteps,
  attentionMatrix,
  axisFraction,
  axisTicks,
  barLane,
  barDomain,
  barModel,
  buildHeatmap,
  canAppend,
  cellAt,
  cellKind,
  cellValue,
  decodeAlerts,
  decodeNumber,
  decodeTable,
  decodeThresholds,
  downsampleSeries,
  filterLayers,
  formatExact,
  formatShort,
  layerSeries,
  layerStates,
  nearestStepIndex,
  neededStats,
  openingStepIndex,
  zoomIndices,
  runProblems,
  runSignature,
  sameColumns,
  samplingNotes,
  runThresholds,
  thresholdsFromAlerts,
  usesLog,
  seriesInZoom,
} from '../../frontend/shape.js';

const STATS = [
  'grad_l2',
  'grad_mean_abs',
  'grad_max_abs',
  'param_l2',
  'grad_to_param',
  'grad_nonfinite',
  'has_grad',
];

// A gradient_flow answer as the route sends it: 3 layers x 4 steps.
function answer() {
  const row = (l2, { nonfinite = 0, has = 1 } = {}) => [l2, l2, l2, 1, l2, nonfinite, has];
  const none = [null, null, null, 1, null, 0, 0];
  return {
    run: 'exp1',
    layers: ['embed', 'hidden', 'head'],
    stats: STATS,
    steps: [0, 10, 20, 30],
    wall_times: [1, 2, 3, 4],
    total_steps: 8,
    downsampled: true,
    values: [
      [row(1e-6), row(0.5), row(2)],
      [row(1e-7), row('NaN', { nonfinite: 3 }), row(3)],
      [row(1e-7), none, row(4)],
      [row(0), row('Infinity', { nonfinite: 1 }), row(50)],
    ],
  };
}

test('decodeNumber keeps NaN, infinities and "no value" apart', () => {
  assert.equal(decodeNumber(1.5), 1.5);
  assert.ok(Number.isNaN(decodeNumber('NaN')));
  assert.equal(decodeNumber('Infinity'), Infinity);
  assert.equal(decodeNumber('-Infinity'), -Infinity);
  assert.equal(decodeNumber(null), null);
  assert.throws(() => decodeNumber('1.5'), /not a netviz number: "1.5"/);
});

test('decodeTable reads values[step][layer][stat] with null marked missing', () => {
  const table = decodeTable(answer());
  assert.deepEqual(table.layers, ['embed', 'hidden', 'head']);
  assert.deepEqual(table.steps, [0, 10, 20, 30]);
  assert.equal(table.totalSteps, 8);
  assert.equal(table.downsampled, true);
  assert.equal(cellValue(table, 0, 1, 0), 0.5);
  assert.ok(Number.isNaN(cellValue(table, 1, 1, 0)));
  assert.equal(cellValue(table, 2, 1, 0), null);
  assert.equal(cellValue(table, 3, 1, 0), Infinity);
});

test('decodeTable names the malformed part of an answer', () => {
  assert.throws(() => decodeTable({ layers: ['a'], stats: ['x'], steps: [0] }), /no "values" list/);
  assert.throws(
    () => decodeTable({ layers: ['a'], stats: ['x'], steps: [0, 1], values: [[[1]]] }),
    /values has 1 steps but steps has 2/,
  );
  assert.throws(
    () => decodeTable({ layers: ['a', 'b'], stats: ['x'], steps: [0], values: [[[1]]] }),
    /values\[0\] must hold 2 layers/,
  );
});

test('a layer without gradient is neither zero nor non-finite', () => {
  const table = decodeTable(answer());
  assert.equal(cellKind(table, 2, 1, 0), KIND.NONE);
  assert.equal(cellKind(table, 1, 1, 0), KIND.NONFINITE);
  assert.equal(cellKind(table, 3, 0, 0), KIND.VALUE); // a zero gradient is a value
});

test('has_grad == 0 marks no gradient even when the statistic is a number', () => {
  const json = answer();
  json.values[0][0] = [0, 0, 0, 1, 0, 0, 0];
  const table = decodeTable(json);
  assert.equal(cellKind(table, 0, 0, 0), KIND.NONE);
});

test('heatmap rows are layers in flow order and columns are steps', () => {
  const heatmap = buildHeatmap(decodeTable(answer()), 'grad_l2', { log: true });
  assert.equal(heatmap.rows, 3);
  assert.equal(heatmap.cols, 4);
  // head (row 2) at step 30 (col 3) is 50: log10(50)
  assert.ok(Math.abs(heatmap.scaled[2 * 4 + 3] - Math.log10(50)) < 1e-6);
  assert.equal(heatmap.kinds[1 * 4 + 1], KIND.NONFINITE);
  assert.equal(heatmap.kinds[1 * 4 + 2], KIND.NONE);
  assert.equal(heatmap.kinds[0 * 4 + 3], KIND.BELOW); // zero on a log axis
  assert.ok(Math.abs(heatmap.min - -7) < 1e-6);
  assert.ok(Math.abs(heatmap.max - Math.log10(50)) < 1e-6);
});

test('heatmap on a linear axis keeps zero as a value', () => {
  const heatmap = buildHeatmap(decodeTable(answer()), 'grad_l2', { log: false });
  assert.equal(heatmap.kinds[0 * 4 + 3], KIND.VALUE);
  assert.equal(heatmap.min, 0);
  assert.equal(heatmap.max, 50);
});

test('heatmap of an unknown statistic says which statistics exist', () => {
  assert.throws(() => buildHeatmap(decodeTable(answer()), 'nope'), /"nope" is not in this run \(grad_l2, /);
});

test('signed statistics are never put on a log axis', () => {
  assert.equal(usesLog('grad_l2', true), true);
  assert.equal(usesLog('grad_l2', false), false);
  assert.equal(usesLog('act_mean', true), false);
});

test('layerSeries gives null for no gradient and keeps NaN', () => {
  const series = layerSeries(decodeTable(answer()), 1, 'grad_l2');
  assert.deepEqual(series.steps, [0, 10, 20, 30]);
  assert.equal(series.values[0], 0.5);
  assert.ok(Number.isNaN(series.values[1]));
  assert.equal(series.values[2], null);
  assert.deepEqual(series.kinds, [KIND.VALUE, KIND.NONFINITE, KIND.NONE, KIND.NONFINITE]);
});

test('downsampleSeries keeps spikes and skips non-finite points', () => {
  const values = Array.from({ length: 1000 }, (_, i) => (i === 537 ? 100 : 1));
  values[3] = NaN;
  values[4] = null;
  const points = downsampleSeries(values, 40);
  assert.ok(points.length <= 40);
  assert.ok(points.some((p) => p.index === 537 && p.value === 100));
  assert.ok(points.every((p) => Number.isFinite(p.value)));
  assert.deepEqual(downsampleSeries([1, NaN, 3], 10), [
    { index: 0, value: 1 },
    { index: 2, value: 3 },
  ]);
});

test('bar model has one row per layer with the kind of each cell', () => {
  const model = barModel(decodeTable(answer()), 1, ['grad_max_abs', 'grad_mean_abs']);
  assert.deepEqual(
    model.rows.map((r) => r.layer),
    ['embed', 'hidden', 'head'],
  );
  assert.equal(model.step, 10);
  assert.equal(model.rows[1].cells[0].kind, KIND.NONFINITE);
  assert.equal(model.rows[2].cells[1].value, 3);
  assert.equal(barModel(decodeTable(answer()), 2, ['grad_l2']).rows[1].cells[0].kind, KIND.NONE);
});

test('vanishing band sits at the ratio of the largest layer at that step', () => {
  const model = barModel(decodeTable(answer()), 2, ['grad_l2'], {
    thresholds: { vanishingRatio: 1e-3, explodingFactor: 10, patience: 3 },
  });
  assert.equal(model.bandStat, 'grad_l2');
  assert.ok(Math.abs(model.vanishingBelow - 4e-3) < 1e-12);
});

test('exploding band follows the layer moving average once it has enough history', () => {
  const table = decodeTable(answer());
  const early = barModel(table, 2, ['grad_l2']);
  assert.equal(early.rows[2].explodingAbove, null); // two steps of history, patience is 3
  const late = barModel(table, 3, ['grad_l2']);
  // EMA of 2, 3, 4 with decay 0.9: 2 -> 2.1 -> 2.29; band at 10x
  assert.ok(Math.abs(late.rows[2].explodingAbove - 22.9) < 1e-9);
});

test('bands are not drawn for statistics the alert rules do not use', () => {
  const model = barModel(decodeTable(answer()), 2, ['param_l2']);
  assert.equal(model.bandStat, null);
  assert.equal(model.vanishingBelow, null);
});

test('thresholds come from the alerts when they carry them', () => {
  const found = thresholdsFromAlerts([
    { kind: 'vanishing', threshold: 1e-3 },
    { kind: 'exploding', threshold: 5 },
    { kind: 'nonfinite', threshold: 0 },
  ]);
  assert.equal(found.vanishingRatio, 1e-3);
  assert.equal(found.explodingFactor, 5);
  assert.equal(thresholdsFromAlerts([]).vanishingRatio, 1e-4);
});

test('thresholds written with the table win over those of the alerts and the defaults', () => {
  const json = {
    ...answer(),
    alert_thresholds: { vanishing_ratio: 1e-2, exploding_factor: 4, dead_fraction: 0.5, patience: 2 },
  };
  const table = decodeTable(json);
  assert.deepEqual(table.alertThresholds, { vanishingRatio: 1e-2, explodingFactor: 4, patience: 2 });
  const fromAlerts = [{ kind: 'vanishing', threshold: 1e-3 }];
  assert.deepEqual(runThresholds(table, fromAlerts), table.alertThresholds);
  assert.equal(runThresholds(decodeTable(answer()), fromAlerts).vanishingRatio, 1e-3);
  assert.equal(runThresholds(decodeTable(answer()), []).explodingFactor, 10);
  const model = barModel(table, 2, ['grad_l2'], { thresholds: runThresholds(table, []) });
  assert.equal(model.thresholds.explodingFactor, 4);
});

test('malformed thresholds in a table are ignored, not trusted', () => {
  assert.equal(decodeThresholds(null), null);
  assert.equal(decodeThresholds('x'), null);
  assert.equal(decodeThresholds({ vanishing_ratio: 2, exploding_factor: 4, patience: 2 }), null);
  assert.equal(decodeThresholds({ vanishing_ratio: 1e-3, exploding_factor: 1, patience: 2 }), null);
  assert.equal(decodeThresholds({ vanishing_ratio: 1e-3, exploding_factor: 4, patience: 1.5 }), null);
  assert.equal(decodeThresholds({ vanishing_ratio: '1e-3', exploding_factor: 4, patience: 2 }), null);
});

test('bar domain spans whole decades on a log axis', () => {
  const model = barModel(decodeTable(answer()), 0, ['grad_l2']);
  const [lo, hi] = barDomain(model, true);
  assert.ok(lo <= 1e-6 && hi >= 2);
  assert.ok(Number.isInteger(Math.log10(lo)));
  assert.ok(Number.isInteger(Math.log10(hi)));
  assert.deepEqual(barDomain(model, false), [0, 2]);
});

test('axis fraction and ticks', () => {
  assert.equal(axisFraction(10, [1, 100], true), 0.5);
  assert.equal(axisFraction(0, [1, 100], true), 0);
  assert.equal(axisFraction(5, [0, 10], false), 0.5);
  assert.equal(axisFraction(50, [0, 10], false), 1);
  assert.deepEqual(axisTicks([1e-3, 1], true), [0.001, 0.01, 0.1, 1]);
  assert.deepEqual(axisTicks([0, 1], false), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.ok(axisTicks([1e-12, 1e12], true).length <= 7);
});

test('values read short in labels and exact in hover read-outs', () => {
  assert.equal(formatShort(0.000123456), '1.23e-4');
  assert.equal(formatShort(12.345), '12.3');
  assert.equal(formatShort(null), 'no gradient');
  assert.equal(formatShort(NaN), 'NaN');
  assert.equal(formatShort(Infinity), '+∞');
  assert.equal(formatShort(-Infinity), '−∞');
});

test('one number format: three significant digits, exponents for the very large and small', () => {
  assert.equal(formatShort(33308070000000000000), '3.33e19');
  assert.equal(formatShort(0.000002707519), '2.71e-6');
  assert.equal(formatShort(0.13022949250000002), '0.13');
  assert.equal(formatShort(1e-5), '1e-5');
  assert.equal(formatShort(123456.7), '1.23e5');
  assert.equal(formatShort(0.0012345), '0.00123');
  // counts stay whole
  assert.equal(formatShort(1105), '1105');
  assert.equal(formatShort(65), '65');
  assert.equal(formatShort(-2.5), '-2.5');
  assert.equal(formatExact(0.00012345678901234), '0.00012345678901234');
  assert.equal(formatExact(1e-7), '1e-7');
  assert.equal(formatExact(Infinity), 'Infinity');
  assert.equal(formatExact(null), 'no gradient');
});

test('nearestStepIndex finds the kept step closest to an alert', () => {
  assert.equal(nearestStepIndex([0, 10, 20], 14), 1);
  assert.equal(nearestStepIndex([0, 10, 20], 16), 2);
  assert.equal(nearestStepIndex([], 3), -1);
});

test('filterLayers matches every word, case-insensitively, in flow order', () => {
  assert.deepEqual(filterLayers(['enc.FC', 'dec.fc', 'enc.norm'], 'enc fc'), [0]);
  assert.deepEqual(filterLayers(['a', 'b'], '  '), [0, 1]);
});

test('filterLayers takes | alternatives and * ? globs; regex characters in names are literal', () => {
  const names = ['l.0.linear1', 'l.0.norm1', 'l.0.self_attn', 'l.1.linear2', 'head(x)'];
  assert.deepEqual(filterLayers(names, 'linear|norm'), [0, 1, 3]);
  assert.deepEqual(filterLayers(names, 'linear*'), [0, 3]);
  assert.deepEqual(filterLayers(names, 'l.?.linear'), [0, 3]);
  assert.deepEqual(filterLayers(names, 'l.1 linear | attn'), [2, 3]);
  assert.deepEqual(filterLayers(names, 'head(x)'), [4]);
  assert.deepEqual(filterLayers(names, 'l.*'), [0, 1, 2, 3]);
  assert.deepEqual(filterLayers(names, 'nothing'), []);
  assert.deepEqual(filterLayers(names, '|'), [0, 1, 2, 3, 4]);
});

test('a run that ends diverged opens at the start of its final non-finite stretch', () => {
  const healthy = decodeTable(answer());
  // answer(): step 3 (30) has a non-finite layer, step 2 (20) has none
  assert.equal(openingStepIndex(healthy, 'grad_l2'), 3);
  const table = decodeTable({
    layers: ['a', 'b'],
    stats: ['grad_l2'],
    steps: [0, 1, 2, 3, 4],
    values: [
      [[1], [2]],
      [['NaN'], [2]],
      [[3], [4]],
      [['NaN'], [5]],
      [['NaN'], ['Infinity']],
    ],
  });
  assert.equal(openingStepIndex(table, 'grad_l2'), 3);
  const fine = decodeTable({ layers: ['a'], stats: ['grad_l2'], steps: [0, 1], values: [[[1]], [[2]]] });
  assert.equal(openingStepIndex(fine, 'grad_l2'), 1);
  const allBad = decodeTable({
    layers: ['a'],
    stats: ['grad_l2'],
    steps: [0, 1],
    values: [[['NaN']], [['NaN']]],
  });
  assert.equal(openingStepIndex(allBad, 'grad_l2'), 0);
});

test('buildHeatmap keeps only the rows the filter asks for, in flow order', () => {
  const heatmap = buildHeatmap(decodeTable(answer()), 'grad_l2', { layers: [0, 2] });
  assert.equal(heatmap.rows, 2);
  assert.deepEqual(Array.from(heatmap.layerIndices), [0, 2]);
  // row 1 is the table's layer 2 ('head'): log10(2) at step 0
  assert.ok(Math.abs(heatmap.scaled[1 * heatmap.cols + 0] - Math.log10(2)) < 1e-6);
});

test('layer states for the layer list badges', () => {
  assert.deepEqual(layerStates(decodeTable(answer()), 2, 'grad_l2'), ['ok', 'none', 'ok']);
  assert.deepEqual(layerStates(decodeTable(answer()), 1, 'grad_l2'), ['ok', 'nonfinite', 'ok']);
});

test('decodeAlerts sorts by step and counts per layer', () => {
  const decoded = decodeAlerts({
    alerts: [
      { kind: 'nonfinite', layer: 'hidden', step: 10, value: 3, threshold: 0, message: 'm2' },
      { kind: 'vanishing', layer: 'embed', step: 0, value: null, threshold: 1e-4, message: 'm1' },
      { kind: 'exploding', layer: 'hidden', step: 30, value: 'Infinity', threshold: 10, message: 'm3' },
    ],
    omitted: 2,
  });
  assert.deepEqual(
    decoded.alerts.map((a) => a.step),
    [0, 10, 30],
  );
  assert.equal(decoded.byLayer.get('hidden'), 2);
  assert.equal(decoded.alerts[2].value, Infinity);
  assert.equal(decoded.omitted, 2);
  assert.equal(alertTitle('dead_units'), 'dead units');
});

test('sampling notes tell how to keep all steps', () => {
  const run = { sampling: { gradient_flow: { kept: 100, expected: 1000, sampled: true } } };
  const notes = samplingNotes(run, decodeTable(answer()));
  assert.match(notes[0], /kept 100 of about 1000/);
  assert.match(notes[0], /--samples_per_plugin=netviz=0/);
  assert.match(notes[1], /Showing 4 of 8 steps/);
  assert.deepEqual(samplingNotes({ sampling: { gradient_flow: { kept: 5, sampled: false } } }, null), []);
});

test('run signature changes when a run grows', () => {
  const a = { sampling: { gradient_flow: { kept: 5, last_step: 40 } }, alerts: 0 };
  const b = { sampling: { gradient_flow: { kept: 6, last_step: 50 } }, alerts: 0 };
  assert.notEqual(runSignature(a), runSignature(b));
  assert.equal(runSignature(a), runSignature(structuredClone(a)));
});

test('attention matrix of one head and the mean over heads, with token labels', () => {
  const json = {
    heads: 2,
    tokens: ['<s>', 'cat', '</s>'],
    values: [
      [
        [1, 0, 0],
        [0.5, 0.5, 0],
        [0.2, 0.3, 0.5],
      ],
      [
        [0, 1, 0],
        [0.5, 0.5, 0],
        [0.4, 0.1, 0.5],
      ],
    ],
  };
  const head1 = attentionMatrix(json, 1);
  assert.equal(head1.values[1], 1);
  const mean = attentionMatrix(json, 'mean');
  assert.ok(Math.abs(mean.values[0] - 0.5) < 1e-7);
  assert.ok(Math.abs(mean.values[7] - 0.2) < 1e-7);
  assert.deepEqual(mean.rowLabels, ['<s>', 'cat', '</s>']);
  assert.deepEqual(mean.colLabels, ['<s>', 'cat', '</s>']);
  assert.throws(() => attentionMatrix(json, 2), /head 2 does not exist \(this layer has 2\)/);
});

test('attention labels: cross-attention tokens, or positions when there are none', () => {
  const cross = attentionMatrix(
    { query_tokens: ['q0'], key_tokens: ['k0', 'k1'], values: [[[0.3, 0.7]]] },
    0,
  );
  assert.deepEqual(cross.rowLabels, ['q0']);
  assert.deepEqual(cross.colLabels, ['k0', 'k1']);
  const bare = attentionMatrix(
    {
      tokens: null,
      values: [
        [
          [1, 0],
          [0, 1],
        ],
      ],
    },
    'mean',
  );
  assert.deepEqual(bare.rowLabels, ['0', '1']);
});

test('cellAt maps a pointer position to a heatmap cell', () => {
  const grid = { width: 100, height: 10, rows: 2, cols: 10 };
  assert.deepEqual(cellAt(15, 5, grid), { row: 1, col: 1 });
  assert.deepEqual(cellAt(99.9, 9.9, grid), { row: 1, col: 9 });
  assert.equal(cellAt(100, 5, grid), null);
  assert.equal(cellAt(-1, 5, grid), null);
});

test('problems the plugin reports about a run become notes', () => {
  assert.deepEqual(runProblems({ problems: ['gradient_flow was written by a newer tb-netviz: upgrade'] }), [
    'gradient_flow was written by a newer tb-netviz: upgrade',
  ]);
  assert.deepEqual(runProblems({}), []);
  assert.deepEqual(runProblems(null), []);
});

// Refresh: the answer for the steps after the shown ones, as the route sends it with min_step.
function later(steps, { downsampled = false, layers = ['embed', 'hidden', 'head'] } = {}) {
  const row = (l2) => [l2, l2, l2, 1, l2, 0, 1];
  return {
    run: 'exp1',
    layers,
    stats: STATS,
    steps,
    wall_times: steps.map((s) => s / 10),
    total_steps: downsampled ? steps.length * 2 : steps.length,
    downsampled,
    values: steps.map((s) => layers.map((_, j) => row(s + j))),
  };
}

function complete() {
  return decodeTable({ ...answer(), total_steps: 4, downsampled: false });
}

test('neededStats asks for the shown statistic, the pair when on, and has_grad only for param_l2', () => {
  assert.deepEqual(neededStats('grad_l2'), ['grad_l2']);
  assert.deepEqual(neededStats('grad_max_abs', { pair: true }), ['grad_max_abs', 'grad_mean_abs']);
  assert.deepEqual(neededStats('param_l2'), ['param_l2', 'has_grad']);
  assert.deepEqual(GRADIENT_STATS, STATS);
});

test('sameColumns ignores order', () => {
  assert.equal(sameColumns({ stats: ['a', 'b'] }, ['b', 'a']), true);
  assert.equal(sameColumns({ stats: ['a', 'b'] }, ['a']), false);
  assert.equal(sameColumns(null, ['a']), false);
});

test('appended steps follow the shown ones with their values, kinds and wall times', () => {
  const merged = appendSteps(complete(), decodeTable(later([40, 50])), { kept: 6, last_step: 50 });
  assert.deepEqual(merged.steps, [0, 10, 20, 30, 40, 50]);
  assert.deepEqual(merged.wallTimes, [1, 2, 3, 4, 4, 5]);
  assert.equal(merged.totalSteps, 6);
  assert.equal(merged.downsampled, false);
  assert.equal(merged.values.length, 6 * 3 * STATS.length);
  // the old cells are unchanged, the new ones are at their place
  assert.equal(cellKind(merged, 2, 1, 0), KIND.NONE);
  assert.ok(Number.isNaN(cellValue(merged, 1, 1, 0)));
  assert.equal(cellValue(merged, 4, 2, 0), 42);
  assert.equal(cellValue(merged, 5, 0, 0), 50);
  const heatmap = buildHeatmap(merged, 'grad_l2', { log: false });
  assert.equal(heatmap.cols, 6);
  assert.equal(heatmap.scaled[2 * 6 + 5], 52);
});

test('an empty increment keeps the table as it is', () => {
  const base = complete();
  assert.equal(appendSteps(base, decodeTable(later([])), { kept: 4, last_step: 30 }), base);
});

test('appending is refused when the steps would not match what TensorBoard holds', () => {
  const base = complete();
  // a thinned answer, different layers or columns, steps that do not follow
  assert.equal(appendSteps(base, decodeTable(later([40, 50], { downsampled: true }))), null);
  assert.equal(appendSteps(base, decodeTable(later([40], { layers: ['embed', 'head', 'new'] }))), null);
  const fewer = decodeTable(later([40]));
  assert.equal(appendSteps(base, { ...fewer, stats: ['grad_l2'] }), null);
  assert.equal(appendSteps(base, decodeTable(later([30, 40]))), null);
  // TensorBoard holds 7 steps up to 50 but the merge would have 6: one was inserted earlier
  assert.equal(appendSteps(base, decodeTable(later([40, 50])), { kept: 7, last_step: 50 }), null);
  // a step written after the runs answer is fine: only steps up to its last_step are counted
  assert.deepEqual(
    appendSteps(base, decodeTable(later([40, 50])), { kept: 5, last_step: 40 }).steps,
    [0, 10, 20, 30, 40, 50],
  );
  // a thinned base table is never appended to
  assert.equal(appendSteps(decodeTable(answer()), decodeTable(later([40]))), null);
});

test('canAppend only when the run grew at its end, unsampled and within the step cap', () => {
  const base = complete();
  const before = { kept: 4, first_step: 0, last_step: 30, sampled: false };
  const grown = { kept: 6, first_step: 0, last_step: 50, sampled: false };
  assert.equal(canAppend(base, before, grown, 500), true);
  assert.equal(canAppend(base, before, { ...grown, kept: 3 }, 500), false); // shrank
  assert.equal(canAppend(base, before, { ...grown, first_step: 5 }, 500), false); // restarted
  assert.equal(canAppend(base, before, { ...grown, last_step: 20 }, 500), false); // rewound
  assert.equal(canAppend(base, before, { ...grown, sampled: true }, 500), false); // TensorBoard drops steps
  assert.equal(canAppend(base, before, grown, 5), false); // would pass the cap: the server thins
  assert.equal(canAppend(decodeTable(answer()), before, grown, 500), false); // thinned already
  assert.equal(canAppend(base, undefined, grown, 500), false);
});

test('a zoom keeps the kept steps inside its step range; one step or none is no zoom', () => {
  assert.deepEqual(zoomIndices([0, 10, 20, 30], { from: 5, to: 30 }), [1, 3]);
  assert.deepEqual(zoomIndices([0, 10, 20, 30], { from: 0, to: 10 }), [0, 1]);
  assert.equal(zoomIndices([0, 10, 20, 30], { from: 11, to: 19 }), null);
  assert.equal(zoomIndices([0, 10, 20, 30], null), null);
  const zoomed = buildHeatmap(decodeTable(answer()), 'grad_l2', { steps: [1, 2] });
  assert.equal(zoomed.cols, 2);
  assert.equal(zoomed.firstStep, 1);
  // column 0 is table step 1: 'head' (row 2) has grad_l2 3 there
  assert.ok(Math.abs(zoomed.scaled[2 * 2 + 0] - Math.log10(3)) < 1e-6);
});

test('seriesInZoom keeps the steps, values and kinds inside the zoom; no zoom, the series', () => {
  const series = { steps: [0, 10, 20, 30], values: [1, null, 3, 4], kinds: [0, 1, 0, 0] };
  assert.deepEqual(seriesInZoom(series, { from: 5, to: 20 }), { steps: [10, 20], values: [null, 3], kinds: [1, 0] });
  assert.equal(seriesInZoom(series, null), series);
});

test('barLane places a lane of a bar row: its band, and the bar from zero to the value', () => {
  assert.deepEqual(barLane(5, [0, 10], false, 1, 2), {
    top: '50%',
    height: '50%',
    left: '0.000%',
    width: '50.000%',
  });
  // a negative value on a linear axis through zero: the bar runs left of zero
  assert.deepEqual(barLane(-5, [-10, 10], false, 0, 1), {
    top: '0%',
    height: '100%',
    left: '25.000%',
    width: '25.000%',
  });
  // a log axis starts at its left end; a tiny value keeps a visible sliver
  const lane = barLane(1e-9, [1e-6, 1], true, 0, 3);
  assert.equal(lane.left, '0.000%');
  assert.equal(lane.width, '0.300%');
  assert.equal(lane.height, `${100 / 3}%`);
});
