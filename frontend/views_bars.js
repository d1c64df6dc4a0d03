// The gradient flow at one step: one bar per layer, input at the top, with the
// vanishing band (shared: vanishing_ratio x the largest layer at this step) shaded,
// each layer's own exploding threshold marked on its row, ✕ for a non-finite value
// and ∅ for a layer that received no gradient. Only the layers the filter keeps.

import { attachBarReadout } from './bar_readout.js';
import { refilledRows } from './bar_rows.js';
import { h, replaceChildren, setAttr, setStyle, setText } from './dom.js';
import { displayNames, modelLayerTitle } from './model_layer.js';
import { distinctLabels } from './names.js';
import {
  KIND,
  PAIR_STATS,
  axisFraction,
  axisTicks,
  barDomain,
  barLane,
  barModel,
  formatExact,
  formatShort,
  pct,
  runThresholds,
  statLabel,
  usesLog,
} from './shape.js';

const PAIR = PAIR_STATS;

/** Build the bar chart panel. Returns {element, update(state)}. */
export function createBarChart(actions) {
  const title = h('h2');
  const pair = h('input', {
    attrs: { type: 'checkbox', id: 'nv-pair' },
    on: { change: () => actions.setPair(pair.checked) },
  });
  const pairLabel = h(
    'label',
    { class: 'control checkbox' },
    pair,
    h('span', { text: 'max |g| and mean |g| side by side' }),
  );
  const axis = h('div', { class: 'bar-axis', attrs: { 'aria-hidden': 'true' } });
  const rows = h('div', { class: 'bar-rows', attrs: { role: 'list' } });
  const key = h('div', { class: 'bar-key' });
  const empty = h('p', { class: 'empty-note', attrs: { hidden: true } });
  const chart = h('div', { class: 'bar-chart' }, rows);
  const readout = attachBarReadout(chart, '.bar-row');
  const element = h(
    'section',
    { class: 'panel bars-panel', attrs: { 'aria-label': 'Gradient flow at the selected step' } },
    h('div', { class: 'panel-head' }, title, pairLabel),
    key,
    empty,
    axis,
    chart,
  );
  let labelKey = '';
  let labels = new Map();
  let drawn = [];
  let shownTable = null;
  const list = refilledRows(rows, {
    create: (row) =>
      createRow(row, labels.get(row.layer), modelLayerTitle(row.layer, shownTable.modelLayer), actions),
    fill: (parts, row, { model, domain, log, state }) => fillRow(parts, row, model, domain, log, state),
  });
  let selected = null; // the layer index of the selection shown last

  function update(state) {
    const table = state.table;
    if (!table) {
      element.hidden = true;
      return;
    }
    element.hidden = false;
    // The pair is offered when the run has both columns; they are fetched when it is switched on.
    const canPair = PAIR.every((s) => (state.columns || table.stats).includes(s));
    pairLabel.hidden = !canPair;
    // The box shows the choice while its columns load; the bars follow once they are in.
    pair.checked = Boolean(state.pair) && canPair;
    const paired = pair.checked && PAIR.every((s) => table.stats.includes(s));
    const stats = paired ? PAIR : [state.stat];
    const log = stats.every((s) => usesLog(s, state.log));
    // Everything the rows show: a change of anything else (a zoom, the comparison) leaves them be.
    const inputs = [table, state.version, state.stepIndex, stats.join(','), log];
    inputs.push(state.layerIndex, state.alerts, state.filter, innerWidth);
    if (inputs.length === drawn.length && inputs.every((v, i) => v === drawn[i])) return;
    drawn = inputs;
    const model = barModel(table, state.stepIndex, stats, {
      thresholds: runThresholds(table, state.alerts.alerts),
    });
    const visible = new Set(state.visible || table.layers.map((_, j) => j));
    model.rows = model.rows.filter((row) => visible.has(row.index));
    const domain = barDomain(model, log);
    title.textContent = `Gradient flow at step ${model.step}`;
    element.dataset.step = String(model.step);
    drawKey(key, stats, model, log);
    drawAxis(axis, domain, log);
    empty.hidden = model.rows.length > 0;
    axis.hidden = rows.hidden = model.rows.length === 0;
    empty.textContent = model.rows.length ? '' : `No layer matches the filter “${state.filter}”.`;
    const names = model.rows.map((row) => row.layer);
    const shownKey = `${names.join('\n')}|${innerWidth}`;
    if (shownKey !== labelKey && model.rows.length) {
      const fits = labelFits(axis);
      const shown = distinctLabels(displayNames(names, table.modelLayer, fits), fits);
      labels = new Map(names.map((name, i) => [name, shown[i]]));
      labelKey = shownKey;
    }
    // The rows (and keyboard focus on them) stay; a step change refills each row in place.
    const rowsKey = `${table.run}|${names.join('\n')}|${[...labels.values()].join('\n')}`;
    const previous = selected;
    selected = state.layerIndex;
    shownTable = table;
    const now = (row) => row.index === state.layerIndex || row.index === previous;
    list.show(model.rows, rowsKey, { model, domain, log, state }, now);
    readout.refresh();
  }

  // Up and down move the selection from row to row, as in a list.
  rows.addEventListener('keydown', (event) => {
    const delta = { ArrowUp: -1, ArrowDown: 1 }[event.key];
    const row = event.target.closest && event.target.closest('.bar-row');
    if (!delta || !row) return;
    const next = delta < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!next) return;
    event.preventDefault();
    next.focus();
    actions.selectLayer(Number(next.dataset.index));
  });

  return { element, update };
}

function drawKey(key, stats, model, log) {
  replaceChildren(
    key,
    stats.map((s, n) =>
      h(
        'span',
        { class: 'swatch-item' },
        h('span', { class: `swatch series-${n}` }),
        `${s} (${statLabel(s)})`,
      ),
    ),
    model.vanishingBelow !== null
      ? h(
          'span',
          { class: 'swatch-item' },
          h('span', { class: 'swatch band-vanishing' }),
          `vanishing: < ${formatShort(model.vanishingBelow)} = vanishing_ratio ${formatShort(model.thresholds.vanishingRatio)} × the largest layer (${model.largestLayer})`,
        )
      : null,
    model.bandStat
      ? h(
          'span',
          { class: 'swatch-item' },
          h('span', { class: 'swatch threshold-key' }),
          `exploding: > ${formatShort(model.thresholds.explodingFactor)}× the layer's own recent average (marked on each row)`,
        )
      : null,
    h('span', { class: 'swatch-item' }, h('span', { class: 'glyph nonfinite', text: '✕' }), 'non-finite'),
    h('span', { class: 'swatch-item' }, h('span', { class: 'glyph none', text: '∅' }), 'no gradient'),
    h('span', { class: 'muted', text: log ? 'log scale' : 'linear scale' }),
  );
}

/**
 * Fill a bar chart's axis row: an empty label cell (labelFits measures it), then the ticks of
 * `domain` ([lo, hi], log or linear) over the track.
 * @example drawAxis(h('div', {class: 'bar-axis'}), [1e-3, 1], true)
 */
export function drawAxis(axis, domain, log) {
  replaceChildren(
    axis,
    h('span', { class: 'bar-label' }),
    h(
      'span',
      { class: 'bar-track axis-track' },
      axisTicks(domain, log).map((v) =>
        h('span', {
          class: 'tick',
          text: formatShort(v),
          props: { style: `left:${(axisFraction(v, domain, log) * 100).toFixed(2)}%` },
        }),
      ),
    ),
  );
}

function createRow(row, label, title, actions) {
  const track = h('span', { class: 'bar-track' });
  const value = h('span', { class: 'bar-value' });
  const button = h(
    'button',
    {
      class: 'bar-row',
      attrs: { type: 'button', role: 'listitem', 'data-layer': row.layer, 'data-index': row.index },
      on: { click: () => actions.selectLayer(row.index) },
    },
    h('span', { class: 'bar-label', text: label || row.layer, title }),
    track,
    value,
  );
  // The track's parts, made once and reused at every step; `shown` is what the track holds.
  return { element: button, button, track, value, band: null, threshold: null, bars: [], glyphs: [], shown: [] };
}

// One row at the model's step: its bands, threshold mark, bars or glyphs, value and read-outs.
// The row's elements stay; only what differs from the shown step is written.
function fillRow(parts, row, model, domain, log, state) {
  const { button, track, value } = parts;
  const selected = row.index === state.layerIndex;
  const children = [];
  if (model.vanishingBelow !== null) {
    parts.band ||= h('span', { class: 'band band-vanishing' });
    setStyle(parts.band, `left:0;width:${pct(axisFraction(model.vanishingBelow, domain, log))}`);
    children.push(parts.band);
  }
  if (row.explodingAbove !== null) {
    // The layer's own threshold (even inside the vanishing band): a value right of it fires.
    parts.threshold ||= h('span', { class: 'threshold-exploding' });
    setAttr(parts.threshold, 'title', `exploding above ${formatShort(row.explodingAbove)}`);
    setAttr(parts.threshold, 'data-threshold', formatExact(row.explodingAbove));
    setStyle(parts.threshold, `left:${pct(axisFraction(row.explodingAbove, domain, log))}`);
    children.push(parts.threshold);
  }
  const lanes = row.cells.length;
  const readout = [];
  const lines = [];
  row.cells.forEach((cell, n) => {
    const { top, height, left, width } = barLane(cell.value, domain, log, n, lanes);
    if (cell.kind === KIND.VALUE) {
      const bar = (parts.bars[n] ||= h('span', { class: `bar series-${n}` }));
      setStyle(bar, `left:${left};width:${width};top:${top};height:${height}`);
      children.push(bar);
    } else {
      const glyph = (parts.glyphs[n] ||= h('span'));
      const none = cell.kind === KIND.NONE;
      setAttr(glyph, 'class', `glyph ${none ? 'none' : 'nonfinite'}`);
      setText(glyph, none ? '∅' : '✕');
      setStyle(glyph, `top:${top};height:${height}`);
      children.push(glyph);
    }
    readout.push(`${cell.stat} ${formatShort(cell.value)}`);
    lines.push({ text: `${cell.stat} = ${formatShort(cell.value)}`, hot: children[children.length - 1] });
  });
  button.readout = { layer: row.layer, step: model.step, lines };
  if (children.length !== parts.shown.length || children.some((child, i) => child !== parts.shown[i])) {
    replaceChildren(track, children);
    parts.shown = children;
  }
  const states = row.cells.map((c) =>
    c.kind === KIND.NONE ? 'none' : c.kind === KIND.NONFINITE ? 'nonfinite' : 'value',
  );
  button.classList.toggle('selected', selected);
  setAttr(button, 'aria-pressed', selected ? 'true' : 'false');
  setAttr(button, 'data-kind', states.join(' '));
  setAttr(button, 'data-value', row.cells.map((c) => formatExact(c.value)).join(' '));
  setAttr(button, 'aria-label', `${row.layer}: ${readout.join(', ')}`);
  setText(value, row.cells.map((c) => formatShort(c.value)).join(' / '));
}

/**
 * Whether a label fits the label column of a bar chart: measured on the (empty) `.bar-label`
 * cell of its axis row, in that cell's font. Returns text => boolean.
 * @example distinctLabels(names, labelFits(axisRow))
 */
export function labelFits(axis) {
  const probe = axis.querySelector('.bar-label');
  const width = probe && probe.clientWidth ? probe.clientWidth : 120;
  const context = document.createElement('canvas').getContext('2d');
  const style = probe ? getComputedStyle(probe) : null;
  context.font = style ? `${style.fontSize} ${style.fontFamily}` : '12px monospace';
  return (text) => context.measureText(text).width <= width - 2;
}
