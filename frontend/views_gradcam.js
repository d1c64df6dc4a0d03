// The Grad-CAM view: the probe images with the class activation map of a layer over
// them, at the dashboard's selected step, so the maps can be played over training.
// Controls: layer, step (◀ ▶ and play move the dashboard's one step selection),
// opacity, and a fixed scale across steps or a per-image scale, with a colour bar.
// Every class and label is inserted as text.

import { getGradCam, getGradCamIndex, getProbeInputs } from './api.js';
import { fillSelect, h, replaceChildren } from './dom.js';
import {
  SCALES,
  decodeImages,
  decodeMaps,
  overlayPixels,
  sampleCaption,
  scaleMax,
  targetText,
} from './gradcam_shape.js';
import { createLayerSelect, selectedStep, shownStep, stepAfter, stepCaption } from './layer_view.js';
import { formatShort, nearestStepIndex } from './shape.js';
import { colourRamp } from './views_heatmap.js';

const TILE_PX = 112;
const PLAY_MS = 700;

/** Build the Grad-CAM panel. Returns {element, update(state)}. */
export function createGradCam(actions) {
  const layers = createLayerSelect({
    id: 'nv-gc-layer',
    label: 'Grad-CAM layer',
    field: 'gradcam_layers',
    end: 'last',
    onSelect: () => loadIndex(),
  });
  const layer = layers.select;
  const back = h('button', {
    text: '◀',
    attrs: { type: 'button', 'aria-label': 'Previous Grad-CAM step', id: 'nv-gc-prev' },
    on: { click: () => moveTo(stepAfter(steps, shown, -1)) },
  });
  const forward = h('button', {
    text: '▶',
    attrs: { type: 'button', 'aria-label': 'Next Grad-CAM step', id: 'nv-gc-next' },
    on: { click: () => moveTo(stepAfter(steps, shown, 1)) },
  });
  const play = h('button', {
    text: 'Play',
    attrs: { type: 'button', id: 'nv-gc-play', 'aria-pressed': 'false' },
    on: { click: () => togglePlay() },
  });
  const slider = h('input', {
    attrs: { type: 'range', min: 0, max: 0, step: 1, id: 'nv-gc-step', 'aria-label': 'Grad-CAM step' },
    on: { input: () => moveTo(steps[Number(slider.value)]) },
  });
  const stepText = h('span', { class: 'gc-step', attrs: { 'aria-live': 'polite' } });
  const opacity = h('input', {
    attrs: { type: 'range', min: 0, max: 100, value: 50, id: 'nv-gc-opacity', 'aria-label': 'Map opacity' },
    on: { input: () => draw() },
  });
  const scale = h('select', {
    attrs: { id: 'nv-gc-scale', 'aria-label': 'Grad-CAM colour scale' },
    on: { change: () => draw() },
  });
  fillSelect(
    scale,
    Object.entries(SCALES).map(([value, label]) => ({ value, label })),
    'fixed',
  );
  const legendHigh = h('span');
  const legend = h('span', { class: 'legend' }, h('span', { text: '0' }), colourRamp(), legendHigh);
  const message = h('p', { class: 'muted' });
  const note = h('p', { class: 'muted gc-note' });
  const tiles = h('div', { class: 'gc-tiles', attrs: { role: 'list', 'aria-label': 'Probe images' } });
  const element = h(
    'section',
    { class: 'panel gradcam-panel', attrs: { 'aria-label': 'Grad-CAM' } },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { text: 'Grad-CAM (probe batch)' }),
      h('label', { class: 'control' }, h('span', { text: 'Layer' }), layer),
      h('span', { class: 'control gc-steps' }, h('span', { text: 'Step' }), back, slider, forward, play, stepText),
      h('label', { class: 'control' }, h('span', { text: 'Opacity' }), opacity),
      h('label', { class: 'control' }, h('span', { text: 'Scale' }), scale),
      legend,
    ),
    message,
    note,
    tiles,
  );

  let state = null;
  let token = 0;
  let index = null;
  let steps = [];
  let shown = null;
  let images = null;
  let decoded = null;
  let timer = null;
  const cache = new Map();

  function update(next) {
    state = next;
    const kind = layers.update(state);
    element.hidden = kind === 'none';
    if (kind === 'none') {
      token++;
      stopPlay();
    } else if (kind === 'step') {
      follow();
    } else {
      cache.clear();
      if (kind === 'run') images = null;
      loadIndex();
    }
  }

  // The dashboard's step moved: show the nearest kept Grad-CAM step.
  function follow() {
    if (!steps.length) return;
    const step = shownStep(steps, selectedStep(state));
    if (step !== shown) loadStep(step);
    else showStepText();
  }

  function showStepText() {
    if (decoded) stepText.textContent = stepCaption(decoded.step, selectedStep(state));
  }

  // Move the dashboard's one step selection; the dashboard then calls update(), which follows.
  function moveTo(step) {
    if (step === undefined || step === null) return;
    const table = state && state.table;
    if (table && table.steps.length) {
      const target = nearestStepIndex(table.steps, step);
      if (target !== state.stepIndex) {
        actions.selectStep(target);
        if (shown !== step && shownStep(steps, table.steps[target]) !== step) loadStep(step);
        return;
      }
    }
    loadStep(step);
  }

  async function loadIndex() {
    const ticket = ++token;
    const run = state.run;
    message.textContent = 'Loading Grad-CAM…';
    try {
      const [answer, probe] = await Promise.all([
        getGradCamIndex(run, layer.value),
        images ? Promise.resolve(null) : getProbeInputs(run).catch(() => null),
      ]);
      if (ticket !== token) return;
      index = answer;
      if (probe) images = decodeImages(probe);
    } catch (error) {
      if (ticket === token) message.textContent = `Could not load the Grad-CAM of this layer: ${error.message}`;
      return;
    }
    steps = index.steps || [];
    shown = null;
    slider.max = String(Math.max(0, steps.length - 1));
    note.textContent = `${targetText(index.target)}; maps are the raw values of the run (0 = not used for the class).${
      images ? '' : ' The probe images were not kept: maps are drawn alone.'
    }`;
    if (!steps.length) {
      message.textContent = 'No Grad-CAM maps were written for this layer.';
      return;
    }
    follow();
  }

  async function loadStep(step) {
    const ticket = ++token;
    const run = state.run;
    const name = layer.value;
    shown = step;
    slider.value = String(Math.max(0, steps.indexOf(step)));
    const cacheKey = `${name}|${step}`;
    try {
      if (!cache.has(cacheKey)) cache.set(cacheKey, decodeMaps(await getGradCam(run, name, step)));
    } catch (error) {
      cache.delete(cacheKey);
      if (ticket === token) message.textContent = `Could not load the Grad-CAM at step ${step}: ${error.message}`;
      return;
    }
    if (ticket !== token) return;
    decoded = cache.get(cacheKey);
    message.textContent = '';
    draw();
  }

  function draw() {
    if (!decoded) return;
    const mode = scale.value;
    const alpha = Number(opacity.value) / 100;
    showStepText();
    legendHigh.textContent = mode === 'fixed' ? formatShort(scaleMax(decoded, 'fixed', 0)) : 'each image’s max';
    const size = Math.max(1, Math.floor(TILE_PX / Math.max(decoded.height, decoded.width)));
    const cards = decoded.maps.map((map, n) => {
      const top = scaleMax(decoded, mode, n);
      const canvas = h('canvas', {
        class: 'gc-canvas',
        attrs: { role: 'img', 'aria-label': `Grad-CAM of probe image ${n}` },
      });
      canvas.width = decoded.width;
      canvas.height = decoded.height;
      canvas.style.width = `${decoded.width * size}px`;
      canvas.style.height = `${decoded.height * size}px`;
      const context = canvas.getContext('2d');
      const pixels = context.createImageData(decoded.width, decoded.height);
      pixels.data.set(overlayPixels(images, map, top, alpha, n));
      context.putImageData(pixels, 0, 0);
      const caption = sampleCaption(decoded, n, index ? index.target : null);
      const truthClass = caption.correct === null ? 'gc-truth' : `gc-truth ${caption.correct ? 'gc-right' : 'gc-wrong'}`;
      return h(
        'figure',
        { class: 'gc-card', attrs: { role: 'listitem' } },
        canvas,
        h(
          'figcaption',
          {},
          h('span', { class: 'gc-index', text: `#${n}` }),
          h('span', { class: 'gc-explains', text: caption.explains }),
          h('span', { class: truthClass, text: caption.truth }),
          mode === 'image' ? h('span', { class: 'gc-max', text: `max ${formatShort(top)}` }) : null,
        ),
      );
    });
    replaceChildren(tiles, cards);
    element.dataset.step = String(decoded.step);
  }

  function togglePlay() {
    if (timer) {
      stopPlay();
      return;
    }
    if (shown === steps[steps.length - 1]) moveTo(steps[0]);
    play.textContent = 'Pause';
    play.setAttribute('aria-pressed', 'true');
    timer = setInterval(() => {
      const next = stepAfter(steps, shown, 1);
      moveTo(next);
      if (next === steps[steps.length - 1]) stopPlay();
    }, PLAY_MS);
  }

  function stopPlay() {
    if (timer) clearInterval(timer);
    timer = null;
    play.textContent = 'Play';
    play.setAttribute('aria-pressed', 'false');
  }

  return { element, update };
}
