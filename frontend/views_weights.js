// The weights view: a layer's convolution kernels as a grid of tiles (rows = output
// channels, columns = input channels) or its dense weight matrix as a heatmap, in a
// zero-centred diverging colour map with one scale for the whole layer at the step, a
// colour bar, and a toggle between w_t and the change since the first logged step.
// It follows the dashboard's one step selection. Layer names are inserted as text.

import { getWeights, getWeightsIndex } from './api.js';
import { fillSelect, h } from './dom.js';
import { createLayerSelect, selectedStep, shownStep, stepCaption } from './layer_view.js';
import {
  NEGATIVE,
  POOL_LABELS,
  POSITIVE,
  ZERO,
  decodeWeights,
  poolScale,
  rgbKernelPixels,
  weightAt,
  weightCaption,
  weightPixels,
} from './learned_shape.js';
import { formatShort } from './shape.js';

const MAX_SIDE_PX = 520;
const MIN_CELL_PX = 2;

/** Build the weights panel. Returns {element, update(state)}. */
export function createWeights() {
  const layers = createLayerSelect({
    id: 'nv-w-layer',
    label: 'Weights layer',
    field: 'weight_layers',
    end: 'first',
    onSelect: () => loadIndex(),
  });
  const layer = layers.select;
  const change = h('input', {
    attrs: { type: 'checkbox', id: 'nv-w-change' },
    on: { change: () => loadStep(shown, true) },
  });
  const changeLabel = h('span', { text: 'change since first step (w_t − w_0)' });
  const pool = h('select', {
    attrs: { id: 'nv-w-pool', 'aria-label': 'Pooled value shown' },
    on: { change: () => draw() },
  });
  const poolControl = h('label', { class: 'control' }, h('span', { text: 'Block' }), pool);
  const rgb = h('input', { attrs: { type: 'checkbox', id: 'nv-w-rgb' }, on: { change: () => draw() } });
  const rgbControl = h('label', { class: 'control checkbox' }, rgb, h('span', { text: 'as RGB pictures' }));
  const low = h('span', { class: 'w-scale-end' });
  const high = h('span', { class: 'w-scale-end' });
  const legend = h(
    'span',
    { class: 'legend', attrs: { 'aria-label': 'Colour scale' } },
    low,
    divergingBar(),
    high,
    h('span', { class: 'muted', text: '0 is white' }),
  );
  const stepText = h('span', { class: 'gc-step', attrs: { 'aria-live': 'polite' } });
  const caption = h('p', { class: 'muted w-caption' });
  const message = h('p', { class: 'muted' });
  const canvas = h('canvas', { class: 'w-canvas', attrs: { role: 'img', id: 'nv-w-canvas' } });
  const hover = h('p', { class: 'w-hover muted', attrs: { 'aria-live': 'polite' } });
  canvas.addEventListener('mousemove', (event) => describe(event));
  canvas.addEventListener('mouseleave', () => (hover.textContent = ''));
  const element = h(
    'section',
    { class: 'panel weights-panel', attrs: { 'aria-label': 'Weights' } },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { text: 'Weights (kernels and matrices)' }),
      h('label', { class: 'control' }, h('span', { text: 'Layer' }), layer),
      h('label', { class: 'control checkbox' }, change, changeLabel),
      poolControl,
      rgbControl,
      legend,
      stepText,
    ),
    caption,
    message,
    canvas,
    hover,
  );

  let state = null;
  let token = 0;
  let index = null;
  let steps = [];
  let shown = null;
  let decoded = null;
  let cellPx = 1;
  const cache = new Map();

  function update(next) {
    state = next;
    const kind = layers.update(state);
    element.hidden = kind === 'none';
    if (kind === 'none') {
      token++;
    } else if (kind === 'step') {
      follow();
    } else {
      cache.clear();
      loadIndex();
    }
  }

  // The dashboard's step moved: show the nearest kept weights step.
  function follow() {
    if (steps.length) loadStep(shownStep(steps, selectedStep(state)));
  }

  async function loadIndex() {
    const ticket = ++token;
    message.textContent = 'Loading weights…';
    try {
      index = await getWeightsIndex(state.run, layer.value);
    } catch (error) {
      if (ticket === token) message.textContent = `Could not load the weights of this layer: ${error.message}`;
      return;
    }
    if (ticket !== token) return;
    steps = index.steps || [];
    shown = null;
    caption.textContent = weightCaption(index);
    changeLabel.textContent = `change since step ${index.first_step} (w_t − w_0)`;
    const pools = index.pools || ['value'];
    poolControl.hidden = pools.length < 2;
    rgbControl.hidden = !(index.layout === 'kernel' && index.shown && index.shown[1] === 3);
    if (rgbControl.hidden) rgb.checked = false;
    fillSelect(
      pool,
      pools.map((name, i) => ({ value: String(i), label: POOL_LABELS[name] || name })),
      '0',
    );
    if (!steps.length) {
      message.textContent = 'No weights were written for this layer.';
      return;
    }
    follow();
  }

  async function loadStep(step, force = false) {
    if (step === null || step === undefined) return;
    if (step === shown && !force) {
      // Same kept step, another dashboard step: only the caption's "nearest to" changes.
      if (decoded) stepText.textContent = stepCaption(decoded.step, selectedStep(state));
      return;
    }
    const ticket = ++token;
    const name = layer.value;
    const view = change.checked ? 'change' : 'weights';
    shown = step;
    const cacheKey = `${name}|${step}|${view}`;
    try {
      if (!cache.has(cacheKey)) cache.set(cacheKey, decodeWeights(await getWeights(state.run, name, step, view)));
    } catch (error) {
      cache.delete(cacheKey);
      if (ticket === token) message.textContent = `Could not load the weights at step ${step}: ${error.message}`;
      return;
    }
    if (ticket !== token) return;
    decoded = cache.get(cacheKey);
    message.textContent = '';
    draw();
  }

  function draw() {
    if (!decoded) return;
    const chosen = Number(pool.value) || 0;
    const scale = poolScale(decoded, chosen);
    const asRgb = rgb.checked && !rgbControl.hidden;
    const pixels = (asRgb && rgbKernelPixels(decoded)) || weightPixels({ ...decoded, scale }, chosen);
    legend.hidden = asRgb;
    element.dataset.rgb = String(asRgb);
    canvas.width = pixels.width;
    canvas.height = pixels.height;
    const image = canvas.getContext('2d').createImageData(pixels.width, pixels.height);
    image.data.set(pixels.data);
    canvas.getContext('2d').putImageData(image, 0, 0);
    cellPx = Math.max(MIN_CELL_PX, Math.floor(MAX_SIDE_PX / Math.max(pixels.width, pixels.height)));
    canvas.style.width = `${pixels.width * cellPx}px`;
    canvas.style.height = `${pixels.height * cellPx}px`;
    low.textContent = formatShort(-scale);
    high.textContent = formatShort(scale);
    const what = decoded.view === 'change' ? `w_t − w_0 of ${decoded.layer}` : `weights of ${decoded.layer}`;
    canvas.setAttribute('aria-label', `${what} at step ${decoded.step}`);
    stepText.textContent = stepCaption(decoded.step, selectedStep(state));
    element.dataset.step = String(decoded.step);
    element.dataset.view = decoded.view;
  }

  function describe(event) {
    if (!decoded) return;
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * canvas.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * canvas.height);
    const found = rgb.checked && !rgbControl.hidden ? null : weightAt(decoded, x, y, Number(pool.value) || 0);
    if (!found) {
      hover.textContent = '';
      return;
    }
    hover.textContent =
      decoded.layout === 'kernel'
        ? `output ${found.output} · input ${found.input} · (${found.y}, ${found.x}): ${formatShort(found.value)}`
        : `row ${found.row} · column ${found.col}: ${formatShort(found.value)}`;
  }

  return { element, update };
}

/** The colour bar: the diverging colour map, negative on the left, zero in the middle. */
function divergingBar() {
  const bar = document.createElement('canvas');
  bar.className = 'legend-bar';
  bar.setAttribute('aria-hidden', 'true');
  bar.width = 180;
  bar.height = 1;
  const context = bar.getContext('2d');
  const stops = context.createLinearGradient(0, 0, 180, 0);
  stops.addColorStop(0, `rgb(${NEGATIVE.join(',')})`);
  stops.addColorStop(0.5, `rgb(${ZERO.join(',')})`);
  stops.addColorStop(1, `rgb(${POSITIVE.join(',')})`);
  context.fillStyle = stops;
  context.fillRect(0, 0, 180, 1);
  return bar;
}
