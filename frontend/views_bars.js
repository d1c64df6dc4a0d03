// The gradient flow at one step: one bar per layer, input at the top, with the
// vanishing band (shared) and exploding band (per layer) shaded, ✕ for a
// non-finite value and ∅ for a layer that received no gradient.

import { h, replaceChildren } from './dom.js';
import {
  KIND,
  PAIR_STATS,
  axisFraction,
  axisTicks,
  barDomain,
  barModel,
  formatExact,
  formatShort,
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
  const element = h(
    'section',
    { class: 'panel bars-panel', attrs: { 'aria-label': 'Gradient flow at the selected step' } },
    h('div', { class: 'panel-head' }, title, pairLabel),
    key,
    axis,
    rows,
  );

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
    const model = barModel(table, state.stepIndex, stats, {
      thresholds: runThresholds(table, state.alerts.alerts),
    });
    const domain = barDomain(model, log);
    title.textContent = `Gradient flow at step ${model.step}`;
    element.dataset.step = String(model.step);
    drawKey(key, stats, model, log);
    drawAxis(axis, domain, log);
    // Rows are rebuilt on every change: keep keyboard focus on the same layer's row.
    const focused = rows.contains(document.activeElement) ? document.activeElement.dataset.index : null;
    replaceChildren(
      rows,
      model.rows.map((row) => drawRow(row, model, domain, log, state, actions)),
    );
    if (focused !== null && rows.children[Number(focused)]) rows.children[Number(focused)].focus();
  }

  // Up and down move the selection from row to row, as in a list.
  rows.addEventListener('keydown', (event) => {
    const delta = { ArrowUp: -1, ArrowDown: 1 }[event.key];
    const index = Number(event.target.dataset && event.target.dataset.index);
    if (!delta || !Number.isInteger(index)) return;
    const next = rows.children[index + delta];
    if (!next) return;
    event.preventDefault();
    next.focus();
    actions.selectLayer(index + delta);
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
          `vanishing: < ${formatShort(model.vanishingBelow)}`,
        )
      : null,
    model.bandStat
      ? h(
          'span',
          { class: 'swatch-item' },
          h('span', { class: 'swatch band-exploding' }),
          `exploding: > ${model.thresholds.explodingFactor}× the layer's recent average`,
        )
      : null,
    h('span', { class: 'swatch-item' }, h('span', { class: 'glyph nonfinite', text: '✕' }), 'non-finite'),
    h('span', { class: 'swatch-item' }, h('span', { class: 'glyph none', text: '∅' }), 'no gradient'),
    h('span', { class: 'muted', text: log ? 'log scale' : 'linear scale' }),
  );
}

function drawAxis(axis, domain, log) {
  replaceChildren(
    axis,
    h('span', { class: 'bar-label' }),
    h(
      'span',
      { class: 'bar-track axis-track' },
      axisTicks(domain, log).map((v) =>
        h('span', {
          class: 'tick',
          text: log ? formatDecade(v) : formatShort(v),
          props: { style: `left:${(axisFraction(v, domain, log) * 100).toFixed(2)}%` },
        }),
      ),
    ),
  );
}

function drawRow(row, model, domain, log, state, actions) {
  const selected = row.index === state.layerIndex;
  const track = h('span', { class: 'bar-track' });
  if (model.vanishingBelow !== null) {
    track.appendChild(
      h('span', {
        class: 'band band-vanishing',
        props: { style: `left:0;width:${pct(axisFraction(model.vanishingBelow, domain, log))}` },
      }),
    );
  }
  if (row.explodingAbove !== null) {
    // Where a layer's exploding threshold lies inside the vanishing band (a layer that is
    // already vanishing), the band starts where the vanishing one ends, so they never overlap.
    const from = axisFraction(Math.max(row.explodingAbove, model.vanishingBelow ?? 0), domain, log);
    track.appendChild(
      h('span', {
        class: 'band band-exploding',
        props: { style: `left:${pct(from)};width:${pct(1 - from)}` },
      }),
    );
  }
  const lanes = row.cells.length;
  const readout = [];
  row.cells.forEach((cell, n) => {
    const top = `${(n / lanes) * 100}%`;
    const height = `${100 / lanes}%`;
    if (cell.kind === KIND.VALUE) {
      const start = log ? 0 : axisFraction(0, domain, log);
      const end = axisFraction(cell.value, domain, log);
      const left = Math.min(start, end);
      track.appendChild(
        h('span', {
          class: `bar series-${n}`,
          props: {
            style: `left:${pct(left)};width:${pct(Math.max(0.003, Math.abs(end - start)))};top:${top};height:${height}`,
          },
        }),
      );
    } else {
      track.appendChild(
        h('span', {
          class: `glyph ${cell.kind === KIND.NONE ? 'none' : 'nonfinite'}`,
          text: cell.kind === KIND.NONE ? '∅' : '✕',
          props: { style: `top:${top};height:${height}` },
        }),
      );
    }
    readout.push(`${cell.stat} ${formatExact(cell.value)}`);
  });
  const states = row.cells.map((c) =>
    c.kind === KIND.NONE ? 'none' : c.kind === KIND.NONFINITE ? 'nonfinite' : 'value',
  );
  return h(
    'button',
    {
      class: `bar-row${selected ? ' selected' : ''}`,
      attrs: {
        type: 'button',
        role: 'listitem',
        'aria-pressed': selected ? 'true' : 'false',
        'data-layer': row.layer,
        'data-index': row.index,
        'data-kind': states.join(' '),
        'aria-label': `${row.layer}: ${readout.join(', ')}`,
      },
      title: `${row.layer}\n${readout.join('\n')}`,
      on: { click: () => actions.selectLayer(row.index) },
    },
    h('span', { class: 'bar-label', text: row.layer }),
    track,
    h('span', { class: 'bar-value', text: row.cells.map((c) => formatShort(c.value)).join(' / ') }),
  );
}

function formatDecade(value) {
  const exponent = Math.round(Math.log10(value));
  return exponent >= -2 && exponent <= 3 ? String(Number(value.toPrecision(1))) : `1e${exponent}`;
}

function pct(fraction) {
  return `${(Math.min(1, Math.max(0, fraction)) * 100).toFixed(3)}%`;
}
