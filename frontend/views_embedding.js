// The embedding view: the probe batch's samples as points of the PCA projection of one
// layer's features, coloured by label with a legend, 2-D (pc1 x pc2) or 3-D (drag to turn).
// The dashboard's one step selection moves the points, animated from the previous step.
// Hovering a point names its sample index and label. Labels are inserted as text.

import { getEmbedding } from './api.js';
import { fillSelect, h, replaceChildren } from './dom.js';
import { createLayerSelect, selectedStep, shownStep, stepCaption } from './layer_view.js';
import {
  boundsOf,
  decodeEmbedding,
  ease,
  interpolate,
  labelColour,
  labelSourceText,
  legendEntries,
  nearestPoint,
  pointText,
  project,
  toPixels,
  varianceText,
} from './learned_shape.js';

const SIZE_PX = 420;
const RADIUS_PX = 4;
const ANIMATION_MS = 450;

/** Build the embedding panel. Returns {element, update(state)}. */
export function createEmbedding() {
  const layers = createLayerSelect({
    id: 'nv-e-layer',
    label: 'Embedding layer',
    field: 'embedding_layers',
    end: 'last',
    onSelect: () => load(),
  });
  const layer = layers.select;
  const mode = h('select', {
    attrs: { id: 'nv-e-mode', 'aria-label': 'Projection' },
    on: { change: () => draw(current) },
  });
  fillSelect(
    mode,
    [
      { value: '2d', label: '2-D (pc1 × pc2)' },
      { value: '3d', label: '3-D (drag to turn)' },
    ],
    '2d',
  );
  const stepText = h('span', { class: 'gc-step', attrs: { 'aria-live': 'polite' } });
  const variance = h('p', { class: 'muted e-variance' });
  const message = h('p', { class: 'muted' });
  const canvas = h('canvas', {
    class: 'e-canvas',
    attrs: { id: 'nv-e-canvas', role: 'img', 'aria-label': 'Embedding scatter' },
  });
  const tooltip = h('div', { class: 'e-tooltip', attrs: { role: 'tooltip', id: 'nv-e-tooltip' } });
  tooltip.hidden = true;
  const legendTitle = h('div', { class: 'e-legend-title muted' });
  const legendList = h('ul', { class: 'e-legend', attrs: { 'aria-label': 'Labels' } });
  const element = h(
    'section',
    { class: 'panel embedding-panel', attrs: { 'aria-label': 'Embedding' } },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { text: 'Embedding (probe batch, PCA)' }),
      h('label', { class: 'control' }, h('span', { text: 'Layer' }), layer),
      h('label', { class: 'control' }, h('span', { text: 'View' }), mode),
      stepText,
    ),
    message,
    h(
      'div',
      { class: 'e-body' },
      h('div', { class: 'e-plot' }, canvas, tooltip),
      h('div', { class: 'e-side' }, legendTitle, legendList, variance),
    ),
  );

  let state = null;
  let token = 0;
  let data = null;
  let frameIndex = -1;
  let current = null; // the points drawn now (during an animation, between two frames)
  let pixels = null;
  let animation = 0;
  let yaw = 0.6;
  let pitch = 0.35;
  let drag = null;

  canvas.addEventListener('mousemove', (event) => (drag ? turn(event) : hoverAt(event)));
  canvas.addEventListener('mouseleave', () => {
    tooltip.hidden = true;
    drag = null;
  });
  canvas.addEventListener('mousedown', (event) => {
    if (mode.value === '3d') drag = { x: event.clientX, y: event.clientY };
  });
  window.addEventListener('mouseup', () => (drag = null));

  function update(next) {
    state = next;
    const kind = layers.update(state);
    element.hidden = kind === 'none';
    if (kind === 'none') token++;
    else if (kind === 'step') follow(true);
    else load();
  }

  async function load() {
    const ticket = ++token;
    message.textContent = 'Loading the embedding…';
    let answer;
    try {
      answer = await getEmbedding(state.run, layer.value);
    } catch (error) {
      if (ticket === token) message.textContent = `Could not load the embedding: ${error.message}`;
      return;
    }
    if (ticket !== token) return;
    try {
      data = decodeEmbedding(answer);
    } catch (error) {
      message.textContent = `The embedding cannot be drawn: ${error.message}`;
      return;
    }
    message.textContent = data.frames.length ? '' : 'No embedding was written for this layer.';
    legendTitle.textContent = `Colour: ${labelSourceText(data.labelSource)}`;
    frameIndex = -1;
    current = null;
    follow(false);
  }

  // The dashboard's step moved: animate to the nearest kept embedding step.
  function follow(animate) {
    if (!data || !data.frames.length) return;
    const steps = data.frames.map((f) => f.step);
    const selected = selectedStep(state);
    const target = steps.indexOf(shownStep(steps, selected));
    if (target === frameIndex) {
      showFrameText(data.frames[target], selected); // the caption's "nearest to" follows the step
      return;
    }
    const from = current;
    frameIndex = target;
    const frame = data.frames[target];
    showFrameText(frame, selected);
    drawLegend(frame);
    cancelAnimationFrame(animation);
    if (!animate || !from || from.length !== frame.points.length) {
      draw(frame.points);
      element.dataset.step = String(frame.step);
      return;
    }
    const start = performance.now();
    const tick = (now) => {
      const t = ease((now - start) / ANIMATION_MS);
      draw(interpolate(from, frame.points, t));
      if (t < 1) animation = requestAnimationFrame(tick);
      else element.dataset.step = String(frame.step);
    };
    element.dataset.step = 'moving';
    animation = requestAnimationFrame(tick);
  }

  function showFrameText(frame, selected) {
    stepText.textContent = stepCaption(frame.step, selected);
    variance.textContent = varianceText(frame.variance);
  }

  function drawLegend(frame) {
    replaceChildren(
      legendList,
      legendEntries(frame.labels).map((entry) => {
        const swatch = h('span', { class: 'swatch' });
        swatch.style.background = entry.colour; // CSSOM, not an inline style attribute (CSP)
        return h('li', {}, swatch, h('span', { text: `${entry.text} (${entry.count})` }));
      }),
    );
  }

  function draw(points) {
    if (!points || !data) return;
    current = points;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(SIZE_PX * ratio);
    canvas.height = Math.round(SIZE_PX * ratio);
    canvas.style.width = `${SIZE_PX}px`;
    canvas.style.height = `${SIZE_PX}px`;
    const context = canvas.getContext('2d');
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, SIZE_PX, SIZE_PX);
    const view = mode.value;
    const projected = project(points, view, yaw, pitch);
    pixels = toPixels(projected, boundsOf(data.frames, view), SIZE_PX);
    drawAxes(context);
    const labels = data.frames[Math.max(0, frameIndex)].labels;
    const order = [...labels.keys()].sort((a, b) => projected.depth[a] - projected.depth[b]);
    for (const i of order) {
      if (!Number.isFinite(pixels.px[i]) || !Number.isFinite(pixels.py[i])) continue;
      context.beginPath();
      context.arc(pixels.px[i], pixels.py[i], RADIUS_PX, 0, 2 * Math.PI);
      context.fillStyle = labelColour(labels[i]);
      context.fill();
      context.lineWidth = 0.75;
      context.strokeStyle = 'rgba(0, 0, 0, 0.45)';
      context.stroke();
    }
  }

  function drawAxes(context) {
    context.strokeStyle = 'rgba(128, 128, 128, 0.35)';
    context.lineWidth = 1;
    context.strokeRect(0.5, 0.5, SIZE_PX - 1, SIZE_PX - 1);
    context.fillStyle = 'rgba(128, 128, 128, 0.9)';
    context.font = '11px sans-serif';
    if (mode.value === '2d') {
      context.fillText('pc1 →', SIZE_PX - 44, SIZE_PX - 6);
      context.fillText('pc2 ↑', 6, 14);
    }
  }

  function hoverAt(event) {
    if (!pixels || !data) return;
    const rect = canvas.getBoundingClientRect();
    const x = event.clientX - rect.left - canvas.clientLeft;
    const y = event.clientY - rect.top - canvas.clientTop;
    const i = nearestPoint(pixels, x, y, RADIUS_PX + 3);
    if (i < 0) {
      tooltip.hidden = true;
      return;
    }
    const labels = data.frames[frameIndex].labels;
    tooltip.textContent = pointText(i, labels[i], data.labelSource);
    tooltip.style.left = `${pixels.px[i] + 8}px`;
    tooltip.style.top = `${pixels.py[i] + 8}px`;
    tooltip.hidden = false;
  }

  function turn(event) {
    yaw += (event.clientX - drag.x) * 0.01;
    pitch = Math.max(-1.4, Math.min(1.4, pitch + (event.clientY - drag.y) * 0.01));
    drag = { x: event.clientX, y: event.clientY };
    draw(current);
  }

  return { element, update };
}
