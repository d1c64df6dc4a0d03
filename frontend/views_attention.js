// The attention viewer: a layer, a step and a head (or the mean over heads),
// the query x key matrix with the tokens on both axes, and the value under the pointer.

import { matrixPixels } from './colors.js';
import { getAttention, getAttentionIndex } from './api.js';
import { fillSelect, h, replaceChildren } from './dom.js';
import { colourRamp } from './views_heatmap.js';
import { attentionMatrix, cellAt, formatExact, formatShort, nearestStepIndex } from './shape.js';

const MATRIX_PX = 360;

/** Build the attention panel. Returns {element, update(state)}. */
export function createAttention() {
  const layer = h('select', {
    attrs: { id: 'nv-att-layer', 'aria-label': 'Attention layer' },
    on: { change: () => loadIndex() },
  });
  // The attention follows the dashboard's one step: the recorded step nearest to it.
  const step = h('output', { class: 'att-step', attrs: { id: 'nv-att-step', 'aria-live': 'polite' } });
  const head = h('select', {
    attrs: { id: 'nv-att-head', 'aria-label': 'Attention head' },
    on: { change: () => draw() },
  });
  // One fixed 0–1 axis by default, so heads can be compared; or each head's own range.
  const scale = fillSelect(
    h('select', {
      attrs: { id: 'nv-att-scale', 'aria-label': 'Attention colour scale' },
      on: { change: () => draw() },
    }),
    [
      { value: 'fixed', label: '0–1 (same for every head)' },
      { value: 'auto', label: "this head's range" },
    ],
    'fixed',
  );
  const canvas = h('canvas', {
    class: 'attention-canvas',
    attrs: { tabindex: 0, role: 'img', 'aria-label': 'Attention matrix' },
  });
  const highlight = h('div', { class: 'att-highlight', attrs: { hidden: true, 'aria-hidden': 'true' } });
  const canvasBox = h('div', { class: 'att-canvas-box' }, canvas, highlight);
  const rowLabels = h('div', { class: 'att-rows', attrs: { 'aria-label': 'Query tokens' } });
  const colLabels = h('div', { class: 'att-cols', attrs: { 'aria-label': 'Key tokens' } });
  const readout = h('p', { class: 'att-readout', attrs: { 'aria-live': 'polite' } });
  const legendLow = h('span');
  const legendHigh = h('span');
  const legend = h('span', { class: 'legend' }, legendLow, colourRamp(), legendHigh);
  const message = h('p', { class: 'muted' });
  const grid = h(
    'div',
    { class: 'att-grid' },
    h('div', { class: 'att-corner', text: 'query ↓ / key →' }),
    colLabels,
    rowLabels,
    canvasBox,
  );
  const element = h(
    'section',
    { class: 'panel attention-panel', attrs: { 'aria-label': 'Attention' } },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { text: 'Attention' }),
      h('label', { class: 'control' }, h('span', { text: 'Layer' }), layer),
      h('span', { class: 'control' }, h('span', { text: 'Step' }), step),
      h('label', { class: 'control' }, h('span', { text: 'Head' }), head),
      h('label', { class: 'control' }, h('span', { text: 'Colours' }), scale),
      legend,
    ),
    message,
    grid,
    readout,
  );

  let state = null;
  let layersKey = '';
  let index = null;
  let shownStep = null;
  let answer = null;
  let matrix = null;
  let cell = 0;
  let token = 0;

  function update(next) {
    state = next;
    const layers = (state.runInfo && state.runInfo.attention_layers) || [];
    element.hidden = layers.length === 0;
    if (!layers.length) {
      // A load still under way belongs to the run shown before: drop its answer.
      token++;
      layersKey = '';
      return;
    }
    const key = `${state.run}|${layers.join('\n')}|${state.version}`;
    const selectedLayer =
      state.table && state.layerIndex !== null ? state.table.layers[state.layerIndex] : null;
    if (key !== layersKey) {
      layersKey = key;
      fillSelect(
        layer,
        layers.map((name) => ({ value: name, label: name })),
        layers.includes(selectedLayer) ? selectedLayer : layers[0],
      );
      loadIndex();
    } else if (selectedLayer && layers.includes(selectedLayer) && layer.value !== selectedLayer) {
      layer.value = selectedLayer;
      loadIndex();
    } else {
      followStep();
    }
  }

  // The recorded step nearest to the dashboard's step; the matrix is fetched when it changes.
  function followStep() {
    const steps = (index && index.steps) || [];
    if (!steps.length || !state.table) return;
    const wanted = state.table.steps[state.stepIndex];
    const nearest = steps[nearestStepIndex(steps, wanted)];
    step.textContent = nearest === wanted ? String(nearest) : `${nearest} (nearest recorded to ${wanted})`;
    step.dataset.step = String(nearest);
    if (nearest !== shownStep) {
      shownStep = nearest;
      loadMatrix();
    }
  }

  async function loadIndex() {
    const ticket = ++token;
    const run = state.run;
    message.textContent = 'Loading attention…';
    try {
      index = await getAttentionIndex(run, layer.value);
    } catch (error) {
      if (ticket === token)
        message.textContent = `Could not load the attention of this layer: ${error.message}`;
      return;
    }
    if (ticket !== token) return;
    const steps = index.steps || [];
    const heads = Number(index.heads) || 0;
    fillSelect(
      head,
      [
        { value: 'mean', label: 'mean over heads' },
        ...Array.from({ length: heads }, (_, i) => ({ value: i, label: `head ${i}` })),
      ],
      'mean',
    );
    if (!steps.length) {
      message.textContent = 'No attention matrices were written for this layer.';
      return;
    }
    shownStep = null;
    followStep();
  }

  async function loadMatrix() {
    const ticket = ++token;
    const run = state.run;
    try {
      answer = await getAttention(run, layer.value, shownStep);
    } catch (error) {
      if (ticket === token)
        message.textContent = `Could not load the attention at step ${shownStep}: ${error.message}`;
      return;
    }
    if (ticket !== token) return;
    message.textContent =
      answer.tokens || answer.query_tokens
        ? ''
        : 'This run has no token labels: positions are numbered (pass tokens=... to the callback to label them).';
    draw();
  }

  function draw() {
    if (!answer) return;
    matrix = attentionMatrix(answer, head.value === 'mean' ? 'mean' : Number(head.value));
    cell = Math.max(4, Math.min(28, Math.floor(MATRIX_PX / Math.max(matrix.rows, matrix.cols))));
    canvas.width = matrix.cols;
    canvas.height = matrix.rows;
    canvas.style.width = `${matrix.cols * cell}px`;
    canvas.style.height = `${matrix.rows * cell}px`;
    const context = canvas.getContext('2d');
    const image = context.createImageData(matrix.cols, matrix.rows);
    const [low, high] = scale.value === 'fixed' ? [0, 1] : [Math.min(0, matrix.min), matrix.max];
    image.data.set(matrixPixels(matrix.values, [low, high]));
    legendLow.textContent = formatShort(low);
    legendHigh.textContent = formatShort(high);
    legend.dataset.range = `${low},${high}`;
    highlight.hidden = true;
    context.putImageData(image, 0, 0);
    const every = Math.max(1, Math.ceil(10 / cell));
    const label = (text, i, cls) =>
      h('span', {
        class: cls,
        text: i % every === 0 ? text : '',
        title: text,
        props: {
          style: `height:${cell}px;line-height:${cell}px;font-size:${Math.min(12, Math.max(8, cell - 2))}px`,
        },
      });
    replaceChildren(
      rowLabels,
      matrix.rowLabels.map((t, i) => label(t, i, 'att-label')),
    );
    replaceChildren(
      colLabels,
      matrix.colLabels.map((t, i) => label(t, i, 'att-label')),
    );
    colLabels.style.width = `${matrix.cols * cell}px`;
    // Short key tokens (digits, sub-words) read across; longer ones are turned to fit the column.
    const longest = Math.max(...matrix.colLabels.map((t) => t.length));
    const flat = longest * 7 <= cell + 2;
    colLabels.classList.toggle('flat', flat);
    colLabels.style.height = flat ? `${cell}px` : `${Math.min(90, 10 + longest * 7)}px`;
    readout.textContent = `${matrix.rows} queries × ${matrix.cols} keys, ${matrix.heads} heads. Hover a cell (or focus the matrix and use the arrow keys) for its weight.`;
    element.dataset.step = String(answer.step);
  }

  function show(at) {
    const v = matrix.values[at.row * matrix.cols + at.col];
    Object.assign(highlight.style, {
      left: `${at.col * cell}px`,
      top: `${at.row * cell}px`,
      width: `${cell}px`,
      height: `${cell}px`,
    });
    highlight.hidden = false;
    highlight.dataset.row = String(at.row);
    highlight.dataset.col = String(at.col);
    [...rowLabels.children].forEach((el, i) => el.classList.toggle('hot', i === at.row));
    [...colLabels.children].forEach((el, i) => el.classList.toggle('hot', i === at.col));
    readout.textContent = `query ${at.row} “${matrix.rowLabels[at.row]}” → key ${at.col} “${matrix.colLabels[at.col]}”: ${formatShort(v)}`;
    readout.dataset.value = formatExact(v);
  }

  let focus = { row: 0, col: 0 };
  canvas.addEventListener('mousemove', (event) => {
    if (!matrix) return;
    const box = canvas.getBoundingClientRect();
    const at = cellAt(event.clientX - box.left, event.clientY - box.top, {
      width: box.width,
      height: box.height,
      rows: matrix.rows,
      cols: matrix.cols,
    });
    if (at) show(at);
  });
  canvas.addEventListener('mouseleave', () => {
    highlight.hidden = true;
  });
  canvas.addEventListener('keydown', (event) => {
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (!matrix || !moves[event.key]) return;
    event.preventDefault();
    focus = {
      row: Math.min(matrix.rows - 1, Math.max(0, focus.row + moves[event.key][0])),
      col: Math.min(matrix.cols - 1, Math.max(0, focus.col + moves[event.key][1])),
    };
    show(focus);
  });

  return { element, update };
}
