// Runs side by side: one heatmap per run over the layers they share (same rows, same
// colour axis), the chosen step's bars with one bar per run, the ratio of each run to the
// first (log scale), and the chosen layer's history with one line per run, in
// TensorBoard's run colours. Layers only some runs have are named in a note.

import { attachBarReadout } from './bar_readout.js';
import { alignLayers, compareAtStep, layerNote, ratioHeatmap, ratioLut, runColour } from './compare.js';
import { refilledRows } from './bar_rows.js';
import { afterPaint, cssVar, h, replaceChildren, setAttr, setStyle, setText, sizeCanvas, svg } from './dom.js';
import { distinctLabels } from './names.js';
import { colourDomain, mergeDomains } from './range.js';
import { heatmapCache, heatmapKey, lruCache, objectId } from './render_cache.js';
import {
  KIND,
  barLane,
  buildHeatmap,
  cellAt,
  formatExact,
  formatShort,
  layerSeries,
  nearestStepIndex,
  seriesInZoom,
  statLabel,
  usesLog,
  zoomIndices,
} from './shape.js';
import { drawAxis, labelFits } from './views_bars.js';
import { heatmapImage } from './views_heatmap.js';

const RATIO_LUT = ratioLut();
const GUTTER = 170;
const CHART_H = 180;

/** Build the comparison panel. Returns {element, update(state)}. */
export function createComparison(actions) {
  const title = h('h2', { text: 'Comparison' });
  const note = h('p', { class: 'compare-note' });
  const errors = h('div', { class: 'compare-errors' });
  const key = h('div', { class: 'compare-key' });
  const heatmaps = h('div', { class: 'compare-heatmaps' });
  const barsHead = h('h3');
  const bars = h('div', { class: 'compare-bars', attrs: { role: 'list' } });
  const barChart = h('div', { class: 'bar-chart' }, bars);
  const barReadout = attachBarReadout(barChart, '.cmp-row');
  const compareBars = createCompareBars(bars, actions);
  const ratioHead = h('h3');
  const ratios = h('div', { class: 'compare-ratios' });
  const linesHead = h('h3');
  const lines = h('div', { class: 'compare-lines' });
  const zoomLabel = h('span', { class: 'compare-zoom-label' });
  const zoomBar = h(
    'span',
    { class: 'compare-zoom', attrs: { hidden: true } },
    zoomLabel,
    h('button', {
      text: 'Reset zoom',
      attrs: { type: 'button', id: 'nv-compare-zoom-reset' },
      on: { click: () => actions.setZoom(null) },
    }),
  );
  const drag = createStepDrag(actions);
  const element = h(
    'section',
    { class: 'panel compare-panel', attrs: { 'aria-label': 'Comparison of runs' } },
    h('div', { class: 'panel-head' }, title, key),
    note,
    errors,
    h('div', { class: 'compare-heatmaps-head' }, h('h3', { text: 'Heatmaps aligned by layer' }), zoomBar),
    h('p', {
      class: 'hint muted',
      text: 'Drag across steps to zoom every run in (Esc or Reset zoom to go back); a click selects a layer and step.',
    }),
    heatmaps,
    barsHead,
    barChart,
    ratioHead,
    ratios,
    linesHead,
    lines,
  );

  // Each run's matrix and image, and each ratio's, built once for what they show: a step
  // change only moves the cursors.
  const built = {
    maps: heatmapCache(12, ({ table, stat, log, range, visible, zoom }) => {
      const map = buildHeatmap(table, stat, { log, layers: visible, steps: zoom });
      return { map, domain: colourDomain(map, range) };
    }),
    images: lruCache(12),
    figures: new Map(), // each shown run's heatmap figure, by run
    scale: null,
    ratios: lruCache(6),
  };
  // The bars, ratios and lines lie below the heatmaps, out of view when the comparison
  // opens: they are drawn after the heatmaps are painted, for the latest state.
  let below = null;
  let belowScheduled = false;
  // The ratio has no step cursor: it is drawn again only when what it shows changes.
  let ratiosShown = '';
  // Nor do the lines: a step change only moves their cursor.
  let linesShown = '';
  let moveLinesCursor = () => {};
  function drawBelowLater(args) {
    below = args;
    if (belowScheduled) return;
    belowScheduled = true;
    afterPaint(() => {
      belowScheduled = false;
      if (below) drawBelow(below);
    });
  }

  function drawBelow({ state, loaded, layers, step, colour }) {
    const stat = state.stat;
    barsHead.textContent = `${statLabel(stat)} at step ${step}, one bar per run`;
    compareBars.draw(compareAtStep(loaded, layers, stat, step), usesLog(stat, state.log), colour, state);
    barReadout.refresh();
    const ratioStat = loaded.every((t) => t.stats.includes('grad_l2')) ? 'grad_l2' : stat;
    ratioHead.textContent = `Difference: ${ratioStat} of each run ÷ ${state.table.run} (log scale, steps both logged)`;
    const theme = document.documentElement.dataset.theme || '';
    const zoom = state.zoom ? `${state.zoom.from}-${state.zoom.to}` : '';
    const ratiosKey = [...loaded.map(objectId), ratioStat, zoom, ratios.clientWidth, theme, layers.join('\n')];
    if (ratiosKey.join('|') !== ratiosShown) {
      ratiosShown = ratiosKey.join('|');
      drawRatios(ratios, loaded, layers, ratioStat, state, actions, built.ratios);
    }
    const layer = state.layerIndex === null ? null : state.table.layers[state.layerIndex];
    linesHead.textContent = layer ? `${layer}: ${stat} over steps, one line per run` : '';
    const log = usesLog(stat, state.log);
    const colours = loaded.map((t) => colour(t.run));
    const linesKey = [...loaded.map(objectId), layer, stat, log, zoom, lines.clientWidth, theme, ...colours];
    if (linesKey.join('|') !== linesShown) {
      linesShown = linesKey.join('|');
      moveLinesCursor = drawLines(lines, loaded, layer, stat, log, colour, actions, state);
    }
    moveLinesCursor(step);
  }

  function update(state) {
    const others = state.compareTables || [];
    element.hidden = !(state.compare && state.compare.length && state.table);
    below = null;
    if (element.hidden) return;
    const theme = document.documentElement.dataset.theme || 'light';
    const order = state.runOrder || state.runs.map((r) => r.run);
    const ready = others.filter((o) => o.table && o.table.stats.includes(state.stat));
    const loaded = [state.table, ...ready.map((o) => o.table)];
    const colour = (run) => runColour(run, order, theme);
    title.textContent = `Comparison: ${loaded.map((t) => t.run).join(' · ')}`;
    replaceChildren(
      key,
      loaded.map((t) =>
        h(
          'span',
          { class: 'swatch-item', attrs: { 'data-run': t.run } },
          h('span', { class: 'swatch', attrs: { style: `background:${colour(t.run)}` } }),
          t.run,
        ),
      ),
    );
    replaceChildren(
      errors,
      others
        .filter((o) => o.error || !ready.includes(o))
        .map((o) =>
          h('p', {
            class: o.error ? 'compare-error' : 'muted',
            text: o.error ? `Could not load run “${o.run}”: ${o.error}` : `Loading run “${o.run}”…`,
          }),
        ),
    );
    const alignment = alignLayers(loaded);
    const visible = new Set((state.visible || []).map((j) => state.table.layers[j]));
    const layers = alignment.shared.filter((name) => visible.has(name));
    note.textContent = layerNote(alignment) || `The runs share all ${alignment.shared.length} layers.`;
    note.dataset.shared = String(alignment.shared.length);
    if (!layers.length) {
      const text = alignment.shared.length
        ? `No shared layer matches the filter “${state.filter}”.`
        : 'The runs share no layer: there is nothing to align.';
      replaceChildren(heatmaps, h('p', { class: 'empty-note', text }));
      compareBars.clear();
      replaceChildren(ratios);
      ratiosShown = '';
      linesShown = '';
      replaceChildren(lines);
      return;
    }
    const step = state.table.steps[state.stepIndex];
    const zoomed = state.zoom && loaded.some((t) => zoomIndices(t.steps, state.zoom));
    zoomBar.hidden = !zoomed;
    zoomLabel.textContent = zoomed ? `steps ${state.zoom.from}–${state.zoom.to}` : '';
    drawHeatmaps(heatmaps, loaded, layers, state, step, colour, actions, { drag, built });
    drawBelowLater({ state, loaded, layers, step, colour });
  }

  return { element, update };
}

// Dragging across a run's heatmap selects the step range every step view zooms into (the
// dashboard's one zoom, as on the single-run heatmap); a click without a drag selects a cell.
function createStepDrag(actions) {
  let active = null;
  let zoomed = false;
  window.addEventListener('mouseup', () => {
    if (!active) return;
    const { steps, from, to, band } = active;
    active = null;
    band.hidden = true;
    if (Math.abs(to - from) < 2) return;
    zoomed = true;
    actions.setZoom({ from: steps[Math.min(from, to)], to: steps[Math.max(from, to)] });
  });
  return {
    // `view`: {canvas, band, steps (the shown columns' steps), colOf(event), place(a, b)}.
    start(view, event) {
      zoomed = false;
      const col = view.colOf(event);
      if (col !== null) active = { ...view, from: col, to: col };
    },
    move(view, event) {
      if (!active || active.canvas !== view.canvas || (event.buttons & 1) !== 1) return;
      const col = view.colOf(event);
      if (col === null || col === active.to) return;
      active.to = col;
      active.band.hidden = false;
      view.place(Math.min(active.from, col), Math.max(active.from, col));
    },
    // Whether the click now arriving ends a drag (then it selects no cell); asks once.
    endedDrag() {
      const was = zoomed;
      zoomed = false;
      return was;
    },
  };
}

// Each run's heatmap over the same rows and one colour axis (the union of each run's range),
// over the zoomed step range when there is one.
function drawHeatmaps(box, tables, layers, state, step, colour, actions, { drag, built }) {
  const mode = state.range === 'full' ? 'full' : 'robust';
  const theme = document.documentElement.dataset.theme || '';
  const inputs = tables.map((table) => ({
    table,
    stat: state.stat,
    log: state.log,
    range: mode,
    visible: rowsOf(table, layers),
    zoom: zoomIndices(table.steps, state.zoom),
    theme,
  }));
  const keys = inputs.map(heatmapKey);
  const matrices = inputs.map(built.maps);
  const maps = matrices.map((m) => m.map);
  const domains = matrices.map((m) => m.domain).filter((d) => Number.isFinite(d.lo));
  const domain = mergeDomains(domains, mode);
  const rowPx = Math.max(3, Math.min(14, Math.floor(380 / layers.length)));
  const width = Math.max(320, box.clientWidth || 800);
  // Each run's figure (canvas, caption, listeners) is made once and drawn again at every update.
  const figures = new Map();
  const shown = tables.map((table, n) => {
    const figure = built.figures.get(table.run) || createHeatmapFigure(drag, actions);
    figures.set(table.run, figure);
    const imageKey = `${keys[n]}|${domain ? `${domain.lo}|${domain.hi}|${domain.knee}` : ''}`;
    const image = built.images.get(imageKey, () =>
      heatmapImage(maps[n], document.createElement('canvas'), domain),
    );
    const { canvas, band } = figure;
    setAttr(canvas, 'data-run', table.run);
    setAttr(canvas, 'data-rows', String(layers.length));
    setAttr(canvas, 'aria-label', `Heatmap of run ${table.run}`);
    const plotW = width - GUTTER - 8;
    const plotH = rowPx * layers.length;
    const context = sizeCanvas(canvas, width, plotH + 4);
    context.imageSmoothingEnabled = false;
    context.drawImage(image, 0, 0, image.width, image.height, GUTTER, 2, plotW, plotH);
    const labels = drawRowLabels(context, layers, rowPx);
    if (labels) canvas.dataset.rowLabels = JSON.stringify(labels);
    else delete canvas.dataset.rowLabels;
    const col = nearestStepIndex(table.steps, step);
    const first = maps[n].firstStep;
    const cols = maps[n].cols;
    const cellW = plotW / Math.max(1, cols);
    canvas.dataset.cols = String(cols);
    canvas.dataset.steps = `${table.steps[first]}-${table.steps[first + cols - 1]}`;
    Object.assign(canvas.dataset, { plotLeft: GUTTER, plotTop: 2, plotWidth: plotW, plotHeight: plotH });
    if (col - first >= 0 && col - first < cols) {
      context.lineWidth = 2;
      context.strokeStyle = cssVar('--accent', '#e8710a');
      context.strokeRect(GUTTER + (col - first) * cellW, 2, Math.max(2, cellW), plotH);
    }
    const cellOf = plotCellOf(canvas, { width: plotW, height: plotH, rows: layers.length, cols });
    figure.shown = {
      state,
      cellOf,
      layers,
      steps: table.steps,
      first,
      view: {
        canvas,
        band,
        steps: table.steps.slice(first, first + cols),
        colOf: (event) => {
          const at = cellOf(event);
          return at ? at.col : null;
        },
        place: (a, b) => {
          band.style.left = `${GUTTER + a * cellW}px`;
          band.style.width = `${(b - a + 1) * cellW}px`;
          band.style.top = '2px';
          band.style.height = `${plotH}px`;
        },
      },
    };
    setStyle(figure.swatch, `background:${colour(table.run)}`);
    setText(figure.run, table.run);
    const nearest = table.steps[col] === step ? '' : ` (nearest to ${step})`;
    setText(figure.stepNote, ` · step ${table.steps[col]}${nearest}`);
    return figure.element;
  });
  built.figures = figures;
  if (domain) {
    built.scale ||= h('p', { class: 'muted compare-scale' });
    const lo = formatShort(scaleValue(domain.lo, maps[0].log));
    const hi = formatShort(scaleValue(domain.hi, maps[0].log));
    setText(
      built.scale,
      `One colour axis for all runs: ${lo} (dark) to ${hi} (yellow); NaN/∞ magenta, no gradient grey.`,
    );
    shown.push(built.scale);
  }
  const children = [...box.children];
  if (children.length !== shown.length || children.some((c, i) => c !== shown[i])) replaceChildren(box, shown);
}

// A run's heatmap figure, its listeners reading what the figure shows now (`figure.shown`).
function createHeatmapFigure(drag, actions) {
  const canvas = h('canvas', { class: 'compare-heatmap', attrs: { role: 'img', tabindex: 0 } });
  const band = h('span', { class: 'compare-drag', attrs: { hidden: true } });
  const swatch = h('span', { class: 'swatch' });
  const run = h('span', { class: 'compare-run' });
  const stepNote = h('span', { class: 'muted' });
  const element = h(
    'figure',
    { class: 'compare-figure' },
    h('figcaption', {}, swatch, run, stepNote),
    h('div', { class: 'compare-heatmap-wrap' }, canvas, band),
  );
  const figure = { element, canvas, band, swatch, run, stepNote, shown: null };
  canvas.addEventListener('mousedown', (event) => drag.start(figure.shown.view, event));
  canvas.addEventListener('mousemove', (event) => drag.move(figure.shown.view, event));
  canvas.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !figure.shown.state.zoom) return;
    event.preventDefault();
    actions.setZoom(null);
  });
  canvas.addEventListener('click', (event) => {
    if (drag.endedDrag()) return;
    const at = figure.shown.cellOf(event);
    if (!at) return;
    const { state, layers, steps, first } = figure.shown;
    const j = state.table.layers.indexOf(layers[at.row]);
    actions.selectCell(j, nearestStepIndex(state.table.steps, steps[first + at.col]));
  });
  return figure;
}

// The layer names in the gutter left of a heatmap's rows of `rowPx`, when the rows are tall
// enough for them: returns the labels drawn, or null.
function drawRowLabels(context, layers, rowPx) {
  if (rowPx < 9) return null;
  context.font = '11px system-ui, sans-serif';
  context.textAlign = 'right';
  context.textBaseline = 'middle';
  context.fillStyle = cssVar('--fg', '#222');
  const labels = distinctLabels(layers, (t) => context.measureText(t).width <= GUTTER - 10);
  labels.forEach((label, r) => context.fillText(label, GUTTER - 4, 2 + (r + 0.5) * rowPx));
  return labels;
}

// The cell ({row, col}, or null) under a pointer event on a canvas whose plot of `grid`
// ({width, height, rows, cols}) lies right of the gutter, 2 px down.
function plotCellOf(canvas, grid) {
  return (event) => {
    const rect = canvas.getBoundingClientRect();
    return cellAt(event.clientX - rect.left - GUTTER, event.clientY - rect.top - 2, grid);
  };
}

function scaleValue(v, log) {
  return log ? Math.pow(10, v) : v;
}

function rowsOf(table, layers) {
  const index = new Map(table.layers.map((n, j) => [n, j]));
  return layers.map((n) => index.get(n));
}

// The comparison's bars: one row per layer, one bar per run, made once and refilled in place
// at every step. Returns {draw(rows, log, colour, state), clear()}.
function createCompareBars(box, actions) {
  const axis = h('div', { class: 'cmp-row cmp-axis', attrs: { 'aria-hidden': 'true' } });
  let labelKey = '';
  let labels = [];
  let selectLayer = () => {};
  let shownSelected = null; // the layer selected when the rows were last filled
  const list = refilledRows(box, {
    root: null,
    head: axis,
    create: (row, r) => {
      const track = h('span', { class: 'bar-track cmp-track' });
      const element = h(
        'button',
        {
          class: 'cmp-row',
          attrs: { type: 'button', role: 'listitem', 'data-layer': row.layer },
          on: { click: () => selectLayer(row.layer) },
        },
        h('span', { class: 'bar-label', text: labels[r], title: row.layer }),
        track,
      );
      return { element, track, bars: [], glyphs: [], shown: [] };
    },
    fill: fillCompareRow,
  });

  function draw(rows, log, colour, state) {
    const step = state.table.steps[state.stepIndex];
    const domain = compareDomain(rows, log);
    drawAxis(axis, domain, log);
    // The axis goes in first: its empty label cell measures how wide the labels may be.
    if (axis.parentNode !== box) box.prepend(axis);
    const names = rows.map((r) => r.layer);
    const shownKey = `${names.join('\n')}|${innerWidth}`;
    if (shownKey !== labelKey) {
      labels = distinctLabels(names, labelFits(axis));
      labelKey = shownKey;
    }
    selectLayer = (layer) => actions.selectLayer(state.table.layers.indexOf(layer));
    const selected = state.layerIndex === null ? null : state.table.layers[state.layerIndex];
    const runs = rows.length ? rows[0].cells.map((c) => c.run) : [];
    const key = `${runs.join('\n')}|${names.join('\n')}|${labels.join('\n')}`;
    const previous = shownSelected;
    shownSelected = selected;
    const now = (row) => row.layer === selected || row.layer === previous;
    list.show(rows, key, { domain, log, colour, step, selected }, now);
  }

  function clear() {
    list.clear();
    labelKey = '';
  }

  return { draw, clear };
}

// The bars' axis: every run's finite values at this step (positive ones on a log axis), to
// whole decades on a log axis, from 0 on a linear one.
function compareDomain(rows, log) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of rows)
    for (const cell of row.cells) {
      if (cell.kind !== KIND.VALUE || (log && !(cell.value > 0))) continue;
      lo = Math.min(lo, cell.value);
      hi = Math.max(hi, cell.value);
    }
  if (lo === Infinity) [lo, hi] = log ? [1e-8, 1] : [0, 1];
  if (log) {
    lo = Math.pow(10, Math.floor(Math.log10(lo)));
    hi = Math.pow(10, Math.ceil(Math.log10(hi)));
    if (hi <= lo) hi = lo * 10;
  } else {
    lo = Math.min(0, lo);
    hi = Math.max(hi, lo + 1e-12);
  }
  return [lo, hi];
}

// One row at the step: each run's bar (or ✕/∅ glyph) and its read-out; the row's elements
// stay, only what differs is written.
function fillCompareRow(parts, row, { domain, log, colour, step, selected }) {
  const n = row.cells.length;
  const children = [];
  const lines = [];
  row.cells.forEach((cell, i) => {
    const { top, height, left, width } = barLane(cell.value, domain, log, i, n);
    let mark;
    if (cell.kind === KIND.VALUE) {
      mark = parts.bars[i] ||= h('span', { class: 'cmp-bar' });
      setStyle(mark, `left:${left};width:${width};top:${top};height:${height};background:${colour(cell.run)}`);
    } else {
      mark = parts.glyphs[i] ||= h('span', { class: 'glyph cmp-glyph' });
      const none = cell.kind === KIND.NONE;
      mark.classList.toggle('none', none);
      mark.classList.toggle('nonfinite', !none);
      setText(mark, none ? '∅' : '✕');
      setStyle(mark, `top:${top};height:${height}`);
    }
    setAttr(mark, 'data-run', cell.run);
    setAttr(mark, 'data-value', formatExact(cell.value));
    if (cell.step === null || cell.step === undefined) mark.removeAttribute('data-step');
    else setAttr(mark, 'data-step', String(cell.step));
    children.push(mark);
    const own = cell.step === null || cell.step === undefined || cell.step === step;
    const other = own ? '' : ` (step ${cell.step})`;
    const text = `${cell.run}: ${formatShort(cell.value)}${other}`;
    lines.push({ text, swatch: colour(cell.run), hot: mark });
  });
  if (children.length !== parts.shown.length || children.some((child, i) => child !== parts.shown[i])) {
    replaceChildren(parts.track, children);
    parts.shown = children;
  }
  parts.element.classList.toggle('selected', row.layer === selected);
  parts.element.readout = { layer: row.layer, step, lines };
}

function drawRatios(box, tables, layers, stat, state, actions, builtRatios) {
  const base = tables[0];
  const width = Math.max(320, box.clientWidth || 800);
  const rowPx = Math.max(3, Math.min(12, Math.floor(320 / layers.length)));
  replaceChildren(
    box,
    tables.slice(1).map((other) => {
      const zoom = state.zoom ? `${state.zoom.from}-${state.zoom.to}` : '';
      const key = `${objectId(base)}|${objectId(other)}|${stat}|${zoom}|${layers.join('\n')}`;
      const { ratio, image, bound } = builtRatios.get(key, () =>
        ratioImage(ratioHeatmap(base, other, stat, layers, state.zoom)),
      );
      const canvas = h('canvas', {
        class: 'compare-ratio',
        attrs: { 'data-run': other.run, 'data-cols': ratio.cols, role: 'img' },
      });
      canvas.setAttribute('aria-label', `Ratio of ${other.run} to ${base.run}`);
      const readout = h('p', { class: 'compare-readout', attrs: { 'aria-live': 'polite' } });
      const plotW = width - GUTTER - 8;
      const plotH = rowPx * layers.length;
      const context = sizeCanvas(canvas, width, plotH + 4);
      if (image) {
        context.imageSmoothingEnabled = false;
        context.drawImage(image, 0, 0, ratio.cols, ratio.rows, GUTTER, 2, plotW, plotH);
      }
      drawRowLabels(context, layers, rowPx);
      const cellOf = plotCellOf(canvas, { width: plotW, height: plotH, rows: ratio.rows, cols: ratio.cols });
      canvas.addEventListener('mousemove', (event) => {
        const at = cellOf(event);
        if (!at) return;
        const p = at.row * ratio.cols + at.col;
        const text =
          ratio.kinds[p] === KIND.VALUE
            ? `${formatShort(Math.pow(10, ratio.scaled[p]))}×`
            : ratio.kinds[p] === KIND.NONFINITE
              ? 'NaN/∞ in a run'
              : ratio.kinds[p] === KIND.NONE
                ? 'no gradient in a run'
                : 'zero in a run';
        readout.textContent = `${layers[at.row]} · step ${ratio.steps[at.col]}: ${other.run} ÷ ${base.run} = ${text}`;
        readout.dataset.value = ratio.kinds[p] === KIND.VALUE ? String(Math.pow(10, ratio.scaled[p])) : '';
        readout.dataset.layer = layers[at.row];
        readout.dataset.step = String(ratio.steps[at.col]);
      });
      canvas.addEventListener('click', (event) => {
        const at = cellOf(event);
        if (!at) return;
        const j = state.table.layers.indexOf(layers[at.row]);
        actions.selectCell(j, nearestStepIndex(state.table.steps, ratio.steps[at.col]));
      });
      const low = formatShort(Math.pow(10, -bound));
      const high = formatShort(Math.pow(10, bound));
      return h(
        'figure',
        { class: 'compare-figure' },
        h(
          'figcaption',
          {},
          h('span', { class: 'compare-run', text: `${other.run} ÷ ${base.run}` }),
          h('span', {
            class: 'muted',
            text: ratio.cols
              ? ` · blue: smaller (to ${low}×) · white: equal · red: larger (to ${high}×)`
              : ' · the runs logged no step in common',
          }),
        ),
        canvas,
        readout,
      );
    }),
  );
}

// The ratio, its symmetric colour range and its pixels (one per cell), or no image when
// the runs logged no step in common.
function ratioImage(ratio) {
  const bound = Math.max(0.3, Math.abs(ratio.min) || 0, Math.abs(ratio.max) || 0);
  if (!ratio.cols) return { ratio, image: null, bound };
  const image = document.createElement('canvas');
  image.width = ratio.cols;
  image.height = ratio.rows;
  const ctx = image.getContext('2d');
  const data = ctx.createImageData(ratio.cols, ratio.rows);
  paintRatio(ratio, bound, data.data);
  ctx.putImageData(data, 0, 0);
  return { ratio, image, bound };
}

function paintRatio(ratio, bound, pixels) {
  const special = {
    [KIND.NONE]: [154, 154, 154],
    [KIND.NONFINITE]: [228, 0, 124],
    [KIND.BELOW]: [28, 28, 28],
  };
  for (let p = 0; p < ratio.kinds.length; p++) {
    let rgb;
    if (ratio.kinds[p] === KIND.VALUE) {
      const t = Math.min(1, Math.max(0, (ratio.scaled[p] + bound) / (2 * bound)));
      const i = Math.round(t * 255) * 3;
      rgb = [RATIO_LUT[i], RATIO_LUT[i + 1], RATIO_LUT[i + 2]];
    } else {
      rgb = special[ratio.kinds[p]];
    }
    pixels.set([...rgb, 255], p * 4);
  }
}

// The chosen layer's history, one line per run, on a chart that fills the panel's width.
// Returns a function that moves the chart's step cursor.
function drawLines(box, tables, layer, stat, log, colour, actions, state) {
  if (!layer) {
    replaceChildren(box);
    return () => {};
  }
  const width = Math.max(320, box.clientWidth || 800);
  const pad = { left: 64, right: 12, top: 10, bottom: 22 };
  const series = tables
    .filter((t) => t.layers.includes(layer))
    .map((t) => ({ run: t.run, ...seriesInZoom(layerSeries(t, t.layers.indexOf(layer), stat), state.zoom) }));
  const y = (v) =>
    typeof v === 'number' && Number.isFinite(v) ? (log ? (v > 0 ? Math.log10(v) : null) : v) : null;
  const all = series.flatMap((s) => s.values.map(y)).filter((v) => v !== null);
  const steps = series.flatMap((s) => s.steps);
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (hi === lo) [lo, hi] = [lo - 0.5, hi + 0.5];
  const s0 = steps.length ? Math.min(...steps) : 0;
  const s1 = steps.length ? Math.max(...steps) : 1;
  const px = (s) => pad.left + ((s - s0) / (s1 - s0 || 1)) * (width - pad.left - pad.right);
  const py = (v) => pad.top + (1 - (v - lo) / (hi - lo)) * (CHART_H - pad.top - pad.bottom);
  const paths = series.map((s) => {
    let d = '';
    s.steps.forEach((st, i) => {
      const v = y(s.values[i]);
      if (v === null) return;
      d += `${d ? 'L' : 'M'}${px(st).toFixed(1)},${py(v).toFixed(1)}`;
    });
    return svg('path', {
      d: d || 'M0,0',
      class: 'compare-line',
      'data-run': s.run,
      style: `stroke:${colour(s.run)}`,
    });
  });
  const ticks = [lo, (lo + hi) / 2, hi].map((v) =>
    svg(
      'text',
      { x: pad.left - 6, y: py(v) + 4, class: 'chart-tick', 'text-anchor': 'end' },
      formatShort(log ? Math.pow(10, v) : v),
    ),
  );
  const readout = h('p', { class: 'compare-readout', attrs: { 'aria-live': 'polite' } });
  const cursor = svg('line', { y1: pad.top, y2: CHART_H - pad.bottom, class: 'chart-cursor' });
  const chart = svg(
    'svg',
    { width, height: CHART_H, class: 'chart compare-chart', role: 'img' },
    cursor,
    paths,
    ticks,
    svg('text', { x: pad.left, y: CHART_H - 6, class: 'chart-tick' }, String(s0)),
    svg(
      'text',
      { x: width - pad.right, y: CHART_H - 6, class: 'chart-tick', 'text-anchor': 'end' },
      String(s1),
    ),
  );
  chart.setAttribute('aria-label', `${layer}: ${stat} of each run over steps`);
  const at = (event) => {
    const rect = chart.getBoundingClientRect();
    return s0 + ((event.clientX - rect.left - pad.left) / (width - pad.left - pad.right)) * (s1 - s0);
  };
  chart.addEventListener('mousemove', (event) => {
    const s = at(event);
    readout.textContent = series
      .map((ser) => {
        const i = nearestStepIndex(ser.steps, s);
        return `${ser.run} @ ${ser.steps[i]}: ${formatShort(ser.values[i])}`;
      })
      .join(' · ');
  });
  chart.addEventListener('click', (event) => {
    actions.selectStep(nearestStepIndex(state.table.steps, at(event)));
  });
  replaceChildren(box, chart, readout);
  return (step) => {
    setAttr(cursor, 'x1', String(px(step)));
    setAttr(cursor, 'x2', String(px(step)));
  };
}
