// One layer in detail: its gradient statistics over the steps, its activation
// statistics on the probe batch, and its feature maps at a chosen step.
// Every gradient column of the chosen layer is fetched for it alone (the
// `layers=` parameter), so the panel shows all of them at the cost of one layer.

import { featureMapUrl, getFeatureMapSteps, getGradientFlow } from './api.js';
import { SPECIAL_COLOURS } from './colors.js';
import { h, replaceChildren, svg, watchWidth } from './dom.js';
import { channelsCaption, gapRects, tilePositions } from './feature_map_tiles.js';
import {
  KIND,
  decodeTable,
  formatExact,
  formatShort,
  layerSeries,
  seriesInZoom,
  nearestStepIndex,
  statLabel,
  usesLog,
} from './shape.js';

// Charts fill the panel: as many columns of at least MIN_W pixels as fit, each H high.
const MIN_W = 250;
const H = 150;
const PAD = { left: 62, right: 10, top: 30, bottom: 20 };
const HIDDEN = new Set(['has_grad']);

/** Build the layer detail panel. Returns {element, update(state)}. */
export function createLayerDetail(actions) {
  const title = h('h2', { text: 'Layer detail' });
  const gradients = h('div', { class: 'chart-grid' });
  const activations = h('div', { class: 'chart-grid' });
  const activationsHead = h('h3', { text: 'Activation statistics (probe batch)' });
  // Feature maps follow the dashboard's one step: the recorded step nearest to it.
  const mapsStep = h('output', { attrs: { id: 'nv-fm-step', 'aria-live': 'polite' } });
  const mapsImage = h('img', {
    class: 'feature-maps',
    attrs: { alt: '' },
    // Feature maps are small (a few pixels per channel): enlarge them by a whole factor.
    on: {
      load: () => {
        mapsFrame.style.width = `${Math.min(480, mapsImage.naturalWidth * Math.max(1, Math.floor(320 / mapsImage.naturalWidth)))}px`;
        labelTiles();
      },
    },
  });
  // Each tile carries its channel index (as text), placed from the route's grid layout.
  const mapsLabels = h('div', { class: 'fm-labels', attrs: { 'aria-hidden': 'true' } });
  // The gaps between tiles (black in the PNG) are covered in the panel's colour.
  const mapsGaps = h('div', { class: 'fm-gaps', attrs: { 'aria-hidden': 'true' } });
  const mapsFrame = h('div', { class: 'fm-frame' }, mapsImage, mapsGaps, mapsLabels);
  const mapsChannels = h('p', { class: 'fm-channels muted' });
  const mapsNote = h('p', { class: 'muted' });
  const maps = h(
    'div',
    { class: 'feature-maps-box' },
    h('h3', { text: 'Feature maps' }),
    h('span', { class: 'control' }, h('span', { text: 'Step' }), mapsStep),
    mapsNote,
    mapsLegend(),
    mapsChannels,
    mapsFrame,
  );
  const element = h(
    'section',
    { class: 'panel detail-panel', attrs: { 'aria-label': 'Layer detail' } },
    title,
    h('h3', { text: 'Gradient statistics over steps' }),
    gradients,
    activationsHead,
    activations,
    maps,
  );

  // The charts fill the panel's width: kept by a ResizeObserver, as reading it during a render
  // would force a layout of everything the views before this one changed.
  const gridWidth = watchWidth(gradients, (width) => {
    if (width && current && current.phase === 'ready') update(current);
  });
  let mapsKey = '';
  let mapsSteps = [];
  let mapsLayout = null;
  let current = null;
  let layerKey = '';
  let layerTable = null;
  let chartsKey = '';

  function update(state) {
    current = state;
    const table = state.table;
    if (!table || state.layerIndex === null) {
      element.hidden = true;
      return;
    }
    element.hidden = false;
    const layer = table.layers[state.layerIndex];
    title.textContent = `Layer detail: ${layer}`;
    element.dataset.layer = layer;
    const step = table.steps[state.stepIndex];
    const width = chartWidth(gridWidth() || element.clientWidth - 24);
    // A click on a chart selects the dashboard's step nearest the step clicked.
    const pick = (stepNumber) => actions.selectStep(nearestStepIndex(table.steps, stepNumber));
    loadLayer(state, layer);
    // All columns of the layer once they are in; until then (or if they cannot be read) the
    // columns the other views fetched, with the rest one click away.
    // Only the answer for this run and layer: another run may have a layer of the same name.
    const own =
      layerTable && layerTable.run === state.run && layerTable.layers[0] === layer ? layerTable : null;
    const source = own || table;
    const row = own ? 0 : state.layerIndex;
    const others = own ? [] : (state.columns || []).filter((s) => !HIDDEN.has(s) && !table.stats.includes(s));
    const act = state.activations;
    const actLayer = act ? act.layers.indexOf(layer) : -1;
    // A step change only moves the charts' cursors: the charts are rebuilt when what they draw changes.
    const key = [
      state.run,
      layer,
      state.version,
      own ? own.steps.length : 'shared',
      source.stats.join(','),
      act ? `${act.steps.length}|${actLayer}` : '',
      state.zoom ? `${state.zoom.from}-${state.zoom.to}` : '',
      state.log,
      width,
      others.join(','),
    ].join('|');
    if (key === chartsKey) {
      for (const box of element.querySelectorAll('.chart-box')) box.setStep(step);
    } else {
      chartsKey = key;
      drawCharts();
    }
    const hasMaps = ((state.runInfo && state.runInfo.feature_map_layers) || []).includes(layer);
    maps.hidden = !hasMaps;
    if (hasMaps) loadMaps(state.run, layer, step);

    function drawCharts() {
      replaceChildren(
        gradients,
        source.stats
          .filter((s) => !HIDDEN.has(s))
          .map((stat) =>
            chart(
              stat,
              seriesInZoom(layerSeries(source, row, stat), state.zoom),
              step,
              usesLog(stat, state.log),
              width,
              pick,
            ),
          ),
        others.length
          ? h(
              'div',
              { class: 'other-stats' },
              h('span', { class: 'muted', text: 'Pick another statistic:' }),
              others.map((stat) =>
                h('button', {
                  class: 'link-button',
                  text: stat,
                  title: statLabel(stat),
                  attrs: { type: 'button', 'data-stat': stat },
                  on: { click: () => actions.setStat(stat) },
                }),
              ),
            )
          : null,
      );
      activationsHead.hidden = activations.hidden = false;
      if (actLayer >= 0) {
        replaceChildren(
          activations,
          act.stats.map((stat) =>
            chart(
              stat,
              seriesInZoom(layerSeries(act, actLayer, stat), state.zoom),
              step,
              usesLog(stat, state.log),
              width,
              pick,
            ),
          ),
        );
      } else {
        replaceChildren(
          activations,
          h('p', {
            class: 'muted',
            text: act
              ? 'No activation statistics for this layer.'
              : 'No activation statistics in this run: pass sample_batch=... to the NetViz callback to record them.',
          }),
        );
      }
    }
  }

  /** Fetch every gradient column of `layer` (again when the run's table grows), then redraw. */
  async function loadLayer(state, layer) {
    const steps = state.table.steps;
    const key = `${state.run}|${layer}|${steps[steps.length - 1]}|${steps.length}|${state.version}`;
    if (key === layerKey) return;
    layerKey = key;
    // A name with a comma cannot be asked for through `layers=`: keep the shared columns.
    if (layer.includes(',')) return;
    try {
      const answer = await getGradientFlow(state.run, { layers: [layer] }); // the same step cap as the table
      if (layerKey !== key) return;
      layerTable = decodeTable(answer);
    } catch {
      if (layerKey !== key) return;
      layerTable = null; // the columns already fetched for the other views stay on show
    }
    if (current && current.phase === 'ready') update(current);
  }

  async function loadMaps(run, layer, step) {
    const key = `${run}|${layer}|${current.version}`;
    if (key !== mapsKey) {
      mapsKey = key;
      mapsSteps = [];
      mapsLayout = null;
      replaceChildren(mapsLabels, []);
      replaceChildren(mapsGaps, []); // the previous layer's separators must not cover the new image
      mapsChannels.textContent = '';
      mapsNote.textContent = 'Loading feature maps…';
      try {
        const answer = await getFeatureMapSteps(run, layer);
        if (mapsKey !== key) return;
        mapsSteps = answer.steps || [];
        mapsLayout = answer.layout || null;
      } catch (error) {
        if (mapsKey !== key) return;
        mapsNote.textContent = `Could not load the feature maps: ${error.message}`;
        return;
      }
    }
    if (!mapsSteps.length) {
      mapsNote.textContent = 'No feature maps were written for this layer.';
      mapsFrame.hidden = true;
      return;
    }
    const nearest = mapsSteps[nearestStepIndex(mapsSteps, step)];
    mapsStep.textContent = nearest === step ? String(nearest) : `${nearest} (nearest recorded to ${step})`;
    mapsStep.dataset.step = String(nearest);
    showMap(nearest);
  }

  function showMap(step) {
    const layer = current.table.layers[current.layerIndex];
    mapsFrame.hidden = false;
    mapsImage.alt = `Feature maps of ${layer} at step ${step}`;
    const url = featureMapUrl(current.run, layer, step);
    if (mapsImage.getAttribute('src') !== url) mapsImage.src = url;
    else labelTiles();
    mapsNote.textContent = `Step ${step}: the first channels of one probe sample, each scaled to its own range.`;
  }

  // Channel indices on the tiles; none when the logs carry no layout or it does not fit the image.
  function labelTiles() {
    const tiles = mapsImage.naturalWidth
      ? tilePositions(mapsLayout, mapsImage.naturalWidth, mapsImage.naturalHeight)
      : null;
    let caption = '';
    if (tiles) caption = `Showing ${channelsCaption(mapsLayout)}; each tile is labelled with its channel index.`;
    else if (mapsImage.naturalWidth && mapsLayout === null)
      caption = 'These logs do not record the grid layout: channels are tiled row by row from channel 0.';
    else if (mapsImage.naturalWidth)
      caption = "The grid layout of the latest step does not fit this step's image: tiles are not labelled.";
    mapsChannels.textContent = caption;
    const gaps = tiles ? gapRects(mapsLayout, mapsImage.naturalWidth, mapsImage.naturalHeight) : [];
    replaceChildren(
      mapsGaps,
      gaps.map((gap) =>
        h('span', {
          class: 'fm-gap',
          attrs: {
            style: `left:${gap.left}%;top:${gap.top}%;width:${gap.width}%;height:${gap.height}%`,
          },
        }),
      ),
    );
    replaceChildren(
      mapsLabels,
      (tiles || []).map((tile) => {
        const label = h('span', { class: 'fm-label', text: String(tile.channel) });
        label.dataset.channel = String(tile.channel);
        label.style.left = `${tile.left}%`;
        label.style.top = `${tile.top}%`;
        return label;
      }),
    );
  }

  return { element, update };
}

// What the feature-map colours mean: grey is each channel's own range, mid-grey a constant
// (dead) channel, the dashboard's non-finite colour NaN/Inf.
function mapsLegend() {
  const item = (cls, text, colour) => {
    const swatch = h('span', { class: `swatch ${cls}` });
    if (colour) swatch.style.background = colour;
    return h('li', { class: 'swatch-item' }, swatch, h('span', { text }));
  };
  return h(
    'ul',
    { class: 'fm-legend', attrs: { 'aria-label': 'Feature map colours' } },
    item('fm-ramp', "black → white: the channel's own minimum → maximum"),
    item('fm-constant', 'mid-grey: a constant (dead) channel', 'rgb(128, 128, 128)'),
    item('fm-nonfinite', 'magenta: NaN / ±Inf', SPECIAL_COLOURS.nonfinite),
  );
}


// The width of one chart: the panel split into columns of at least MIN_W pixels.
function chartWidth(available) {
  const space = Math.max(MIN_W, available || MIN_W);
  const columns = Math.max(1, Math.floor((space + 8) / (MIN_W + 8)));
  return Math.floor((space - 8 * (columns - 1)) / columns) - 2;
}

// The y range of a series: its finite values; a constant one gets a range that shows it
// as what it is (a count or fraction stuck at 0 sits on the floor of a 0…1 axis).
function yRange(finite, log) {
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi > lo) return [lo, hi];
  if (log) return [lo - 0.5, hi + 0.5];
  if (lo === 0) return [0, 1];
  const pad = Math.abs(lo) * 0.1;
  return lo > 0 ? [Math.max(0, lo - pad), hi + pad] : [lo - pad, hi + pad];
}

/** An SVG line chart of one statistic, as wide as `W`; hovering reads a value, clicking passes its step to `onPick`. */
function chart(stat, series, selectedStep, log, W, onPick) {
  const y = (v) => (log ? (v > 0 ? Math.log10(v) : null) : v);
  const points = series.values.map((v, i) => ({
    i,
    step: series.steps[i],
    v,
    kind: series.kinds[i],
    y: typeof v === 'number' && Number.isFinite(v) ? y(v) : null,
  }));
  const finite = points.filter((p) => p.y !== null);
  const [lo, hi] = yRange(
    finite.map((p) => p.y),
    log,
  );
  const steps = series.steps;
  const s0 = steps[0] ?? 0;
  const s1 = steps[steps.length - 1] ?? 1;
  const px = (step) => PAD.left + ((step - s0) / (s1 - s0 || 1)) * (W - PAD.left - PAD.right);
  const py = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const paths = [];
  let d = '';
  for (const p of points) {
    if (p.y === null) {
      if (d) paths.push(d);
      d = '';
      continue;
    }
    d += `${d ? 'L' : 'M'}${px(p.step).toFixed(1)},${py(p.y).toFixed(1)}`;
  }
  if (d) paths.push(d);
  const fmt = (v) => formatShort(log ? Math.pow(10, v) : v);
  const marks = points
    .filter((p) => p.kind === KIND.NONFINITE || p.kind === KIND.NONE)
    .map((p) =>
      svg(
        'text',
        {
          x: px(p.step),
          y: PAD.top - 6,
          class: p.kind === KIND.NONE ? 'mark-none' : 'mark-nonfinite',
          'text-anchor': 'middle',
        },
        p.kind === KIND.NONE ? '∅' : '✕',
      ),
    );
  const dot = svg('circle', { r: 3.5, class: 'chart-dot', cx: -10, cy: -10 });
  const cursor = svg('line', { y1: PAD.top, y2: H - PAD.bottom, class: 'chart-cursor' });
  const figure = svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      width: W,
      height: H,
      class: 'chart',
      role: 'img',
    },
    svg('text', { x: PAD.left, y: 14, class: 'chart-title' }, `${stat}${log ? ' (log)' : ''}`),
    [hi, (lo + hi) / 2, lo].map((v) =>
      svg('text', { x: PAD.left - 6, y: py(v) + 4, class: 'chart-tick', 'text-anchor': 'end' }, fmt(v)),
    ),
    svg('line', {
      x1: PAD.left,
      x2: W - PAD.right,
      y1: H - PAD.bottom,
      y2: H - PAD.bottom,
      class: 'chart-axis',
    }),
    cursor,
    paths.map((path) => svg('path', { d: path, class: 'chart-line' })),
    marks,
    dot,
    svg('text', { x: PAD.left, y: H - 5, class: 'chart-tick' }, String(s0)),
    svg('text', { x: W - PAD.right, y: H - 5, class: 'chart-tick', 'text-anchor': 'end' }, String(s1)),
  );
  const stepAt = (event) => {
    const box = figure.getBoundingClientRect();
    return s0 + ((event.clientX - box.left - PAD.left) / (W - PAD.left - PAD.right)) * (s1 - s0);
  };
  const said = h('span');
  const hover = h('span', { class: 'chart-hover', attrs: { 'aria-live': 'polite' } });
  const caption = h('figcaption', { class: 'muted' }, said, ' ', hover);
  // Activations are recorded on probe steps only: the point nearest the selected step is read out.
  function setStep(step) {
    const selected = points[nearestStepIndex(steps, step)];
    const value = selected ? formatShort(selected.v) : '—';
    const where = !selected
      ? `step ${step}`
      : selected.step === step
        ? `step ${selected.step}`
        : `nearest step ${selected.step}`;
    said.textContent = `${where}: ${value}`;
    figure.setAttribute('aria-label', `${stat} over steps; ${where}: ${value}`);
    cursor.setAttribute('visibility', selected ? 'visible' : 'hidden');
    if (selected) {
      cursor.setAttribute('x1', px(selected.step).toFixed(1));
      cursor.setAttribute('x2', px(selected.step).toFixed(1));
    }
  }
  figure.addEventListener('mousemove', (event) => {
    const p = points[nearestStepIndex(steps, stepAt(event))];
    if (!p) return;
    hover.textContent = `step ${p.step}: ${formatShort(p.v)}`;
    hover.dataset.step = String(p.step);
    hover.dataset.value = formatExact(p.v);
    if (p.y !== null) {
      dot.setAttribute('cx', px(p.step).toFixed(1));
      dot.setAttribute('cy', py(p.y).toFixed(1));
    }
  });
  figure.addEventListener('mouseleave', () => {
    hover.textContent = '';
    dot.setAttribute('cx', '-10');
  });
  figure.addEventListener('click', (event) => {
    const p = points[nearestStepIndex(steps, stepAt(event))];
    if (p) onPick(p.step);
  });
  setStep(selectedStep);
  const box = h('figure', { class: 'chart-box', title: statLabel(stat) }, figure, caption);
  box.setStep = setStep;
  return box;
}
