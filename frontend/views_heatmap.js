// The layers x steps heatmap: one canvas, painted from one ImageData (one pixel
// per cell) and scaled without smoothing, so 500 layers x 1,000 steps draws in
// a few milliseconds. Hover and the arrow keys read out the exact value.

import { SPECIAL_COLOURS, VIRIDIS, heatmapPixels } from './colors.js';
import { cssVar, h, replaceChildren, sizeCanvas, watchWidth } from './dom.js';
import { displayNames, modelLayerTitle } from './model_layer.js';
import { distinctLabels } from './names.js';
import { KNEE_AT, RANGE_LABELS, colourDomain, colourPosition, outside } from './range.js';
import { heatmapCache } from './render_cache.js';
import {
  KIND,
  axisTicks,
  nearestStepIndex,
  buildHeatmap,
  zoomIndices,
  cellAt,
  cellKind,
  cellValue,
  formatExact,
  formatShort,
  statIndex,
  statLabel,
} from './shape.js';

const GUTTER_MIN = 40;
const GUTTER_MAX = 190;
const AXIS = 22;
const MAX_HEIGHT = 520;
const OUTLINE_LIGHT = '#ffffff';
const OUTLINE_DARK = '#202124';

/**
 * Paint a heatmap (shape.buildHeatmap) into an offscreen canvas of cols x rows
 * pixels with a single putImageData. Returns the canvas.
 */
export function heatmapImage(heatmap, canvas = document.createElement('canvas'), domain = null) {
  canvas.width = Math.max(1, heatmap.cols);
  canvas.height = Math.max(1, heatmap.rows);
  const context = canvas.getContext('2d');
  const image = context.createImageData(canvas.width, canvas.height);
  const bent = domain && domain.knee !== null && domain.knee !== undefined;
  const painted = domain
    ? {
        domain: [domain.lo, domain.hi],
        knee: bent ? { value: domain.knee, at: KNEE_AT } : null,
        rowDomains: domain.rowDomains,
      }
    : { domain: null, rowDomains: null };
  if (heatmap.rows && heatmap.cols) heatmapPixels(heatmap, { lut: VIRIDIS, out: image.data, ...painted });
  context.putImageData(image, 0, 0);
  return canvas;
}

/** Build the heatmap panel. Returns {element, update(state), lastRenderMs}. */
export function createHeatmap(actions) {
  const canvas = h('canvas', {
    class: 'heatmap-canvas',
    attrs: {
      tabindex: 0,
      role: 'img',
      'aria-label': 'Heatmap of layers by steps. Arrow keys move the selection.',
    },
  });
  const tooltip = h('div', {
    class: 'tooltip',
    attrs: { role: 'status', 'aria-live': 'polite', hidden: true },
  });
  const legend = h('div', { class: 'legend' });
  const title = h('h2', { text: 'Layers × steps' });
  const empty = h('p', { class: 'empty-note', attrs: { hidden: true } });
  const zoomLabel = h('span', { class: 'zoom-label' });
  const zoomBar = h(
    'span',
    { class: 'zoom-bar', attrs: { hidden: true } },
    zoomLabel,
    h('button', {
      text: 'Reset zoom',
      attrs: { type: 'button', id: 'nv-zoom-reset' },
      on: { click: () => actions.setZoom(null) },
    }),
  );
  const wrap = h('div', { class: 'heatmap-wrap' }, canvas, tooltip);
  const element = h(
    'section',
    { class: 'panel heatmap-panel', attrs: { 'aria-label': 'Heatmap' } },
    h('div', { class: 'panel-head' }, title, zoomBar, legend),
    empty,
    wrap,
    h('p', {
      class: 'hint muted',
      text: 'Rows: layers, input at the top. Columns: logged steps. Click a cell or use the arrow keys to select a layer and step; drag across steps to zoom in (Esc or Reset zoom to go back).',
    }),
  );

  // The matrices and images last built (the shown one, and e.g. the unzoomed one while
  // zoomed): a step change redraws the cursor over the image, a zoom back reuses it.
  const built = heatmapCache(3, ({ table, stat, log, range, visible, zoom }) => {
    const matrix = buildHeatmap(table, stat, { log, layers: visible, steps: zoom });
    const colours = colourDomain(matrix, range);
    const image = heatmapImage(matrix, document.createElement('canvas'), colours);
    return { heatmap: matrix, domain: colours, image };
  });
  let shown = null;
  const plotWidth = watchWidth(wrap, (width) => {
    if (width && state && state.table && heatmap && heatmap.rows && !element.hidden) draw();
  });
  let offscreen = null;
  let heatmap = null;
  let domain = null;
  let labels = [];
  let labelKey = '';
  let layout = null;
  let state = null;
  let hover = null;
  const view = { element, update, lastRenderMs: 0 };

  function update(next) {
    state = next;
    const table = state.table;
    if (!table || statIndex(table, state.stat) < 0) {
      element.hidden = true;
      return;
    }
    element.hidden = false;
    const started = performance.now();
    const visible = state.visible || table.layers.map((_, j) => j);
    const zoom = zoomIndices(table.steps, state.zoom);
    const theme = document.documentElement.dataset.theme || '';
    const { version, stat, log } = state;
    const entry = built({ table, version, stat, log, range: state.range || 'robust', visible, zoom, theme });
    zoomBar.hidden = !zoom;
    zoomLabel.textContent = zoom ? `steps ${table.steps[zoom[0]]}–${table.steps[zoom[1]]}` : '';
    if (entry !== shown) {
      shown = entry;
      ({ heatmap, domain, image: offscreen } = entry);
      title.textContent = `Layers × steps: ${statLabel(state.stat)}${heatmap.log ? ' (log10)' : ''}`;
      drawLegend(legend, heatmap, domain);
    }
    empty.hidden = heatmap.rows > 0;
    wrap.hidden = heatmap.rows === 0;
    empty.textContent = heatmap.rows ? '' : `No layer matches the filter “${state.filter}”.`;
    if (heatmap.rows) draw();
    view.lastRenderMs = performance.now() - started;
    canvas.dataset.renderMs = view.lastRenderMs.toFixed(2);
  }

  function draw() {
    const table = state.table;
    const rows = heatmap.rows;
    const cols = heatmap.cols;
    const width = Math.max(200, plotWidth() || 800);
    const rowPx = Math.max(2, Math.min(18, Math.floor(MAX_HEIGHT / Math.max(1, rows))));
    const plotH = Math.min(MAX_HEIGHT, Math.max(rows * rowPx, 60));
    const labelled = plotH / rows >= 9;
    const gutter = labelled ? Math.min(GUTTER_MAX, Math.max(GUTTER_MIN, width * 0.26)) : GUTTER_MIN;
    const plotW = width - gutter - 8;
    layout = { gutter, top: 4, width: plotW, height: plotH, rows, cols };
    // The plot's box in CSS pixels, for tests and tools that point at a cell.
    Object.assign(canvas.dataset, {
      plotLeft: gutter,
      plotTop: layout.top,
      plotWidth: plotW,
      plotHeight: plotH,
      rows,
      cols,
    });
    const context = sizeCanvas(canvas, width, plotH + AXIS + 8);
    context.clearRect(0, 0, width, plotH + AXIS + 8);
    context.imageSmoothingEnabled = false;
    context.drawImage(offscreen, 0, 0, cols, rows, gutter, layout.top, plotW, plotH);
    const cellW = plotW / cols;
    const cellH = plotH / rows;
    if (cellW >= 7 && cellH >= 7) drawGlyphs(context, cellW, cellH);
    const text = cssVar('--fg', '#222');
    const muted = cssVar('--muted', '#666');
    context.font = '11px system-ui, sans-serif';
    context.textBaseline = 'middle';
    context.textAlign = 'right';
    context.fillStyle = text;
    if (labelled) {
      const fits = (text) => context.measureText(text).width <= gutter - 8;
      const names = displayNames(
        Array.from(heatmap.layerIndices, (j) => table.layers[j]),
        table.modelLayer,
        fits,
      );
      const wantKey = `${names.join('\n')}|${gutter}`;
      if (wantKey !== labelKey) {
        labels = distinctLabels(names, fits);
        labelKey = wantKey;
        canvas.dataset.rowLabels = JSON.stringify(labels);
      }
      labels.forEach((label, r) => context.fillText(label, gutter - 4, layout.top + (r + 0.5) * cellH));
    } else {
      labels = [];
      labelKey = '';
      delete canvas.dataset.rowLabels;
      context.fillStyle = muted;
      context.fillText('input', gutter - 4, layout.top + 6);
      context.fillText('output', gutter - 4, layout.top + plotH - 6);
    }
    drawStepAxis(context, shownSteps(), cellW, muted);
    const accent = cssVar('--accent', '#e8710a');
    drawAlertMarks(context, cellW, accent);
    // The cells are viridis in both themes, from near-black purple to yellow: each
    // outline is a light and a dark line together, so it shows at either end of the scale.
    const col = state.stepIndex - heatmap.firstStep;
    if (col >= 0 && col < cols)
      outline(context, [gutter + col * cellW, layout.top, Math.max(2, cellW), plotH], OUTLINE_DARK, accent);
    const selectedRow = state.layerIndex === null ? -1 : heatmap.layerIndices.indexOf(state.layerIndex);
    if (selectedRow >= 0) {
      const row = [gutter, layout.top + selectedRow * cellH, plotW, Math.max(2, cellH)];
      outline(context, row, OUTLINE_LIGHT, OUTLINE_DARK);
    }
    if (drag && drag.to !== drag.from) {
      const a = Math.min(drag.from, drag.to);
      const b = Math.max(drag.from, drag.to) + 1;
      context.fillStyle = 'rgba(26, 115, 232, 0.25)';
      context.fillRect(gutter + a * cellW, layout.top, (b - a) * cellW, plotH);
    }
    if (hover) {
      context.lineWidth = 1;
      context.strokeStyle = cssVar('--focus', '#1a73e8');
      context.strokeRect(
        gutter + hover.col * cellW,
        layout.top + hover.row * cellH,
        Math.max(2, cellW),
        Math.max(2, cellH),
      );
    }
  }

  // A small triangle under each column where an alert fired: where to look first.
  function drawAlertMarks(context, cellW, colour) {
    const steps = shownSteps();
    const alerts = (state.alerts && state.alerts.alerts) || [];
    const inside = alerts.filter((a) => a.step >= steps[0] && a.step <= steps[steps.length - 1]);
    const columns = new Set(inside.map((alert) => nearestStepIndex(steps, alert.step)));
    const y = layout.top + layout.height;
    context.fillStyle = colour;
    for (const i of columns) {
      const x = layout.gutter + (i + 0.5) * cellW;
      context.beginPath();
      context.moveTo(x - 4, y + 6);
      context.lineTo(x + 4, y + 6);
      context.lineTo(x, y + 1);
      context.fill();
    }
  }

  function drawGlyphs(context, cellW, cellH) {
    context.lineWidth = 1.5;
    for (let j = 0; j < heatmap.rows; j++) {
      for (let i = 0; i < heatmap.cols; i++) {
        const kind = heatmap.kinds[j * heatmap.cols + i];
        if (kind !== KIND.NONE && kind !== KIND.NONFINITE) continue;
        const x = layout.gutter + i * cellW;
        const y = layout.top + j * cellH;
        const m = Math.min(cellW, cellH) * 0.25;
        context.strokeStyle = kind === KIND.NONFINITE ? '#ffffff' : '#222222';
        context.beginPath();
        if (kind === KIND.NONFINITE) {
          context.moveTo(x + m, y + m);
          context.lineTo(x + cellW - m, y + cellH - m);
          context.moveTo(x + cellW - m, y + m);
          context.lineTo(x + m, y + cellH - m);
        } else {
          context.moveTo(x + m, y + cellH - m);
          context.lineTo(x + cellW - m, y + m);
        }
        context.stroke();
      }
    }
  }

  // Ticks at round step numbers (0, 50, 100…), each placed on the column of that step.
  function drawStepAxis(context, steps, cellW, colour) {
    context.fillStyle = colour;
    context.textAlign = 'center';
    context.textBaseline = 'top';
    const y = layout.top + layout.height + 7;
    const count = Math.max(2, Math.floor(layout.width / 80));
    const ticks = steps.length > 1 ? axisTicks([steps[0], steps[steps.length - 1]], false, count) : steps;
    let lastX = -Infinity;
    const drawn = [];
    for (const tick of ticks) {
      if (!Number.isInteger(tick)) continue;
      const i = nearestStepIndex(steps, tick);
      const x = layout.gutter + (i + 0.5) * cellW;
      if (x - lastX < 50) continue;
      context.fillText(String(steps[i]), x, y);
      drawn.push(steps[i]);
      lastX = x;
    }
    canvas.dataset.stepTicks = drawn.join(',');
  }

  function cellFromEvent(event) {
    if (!layout) return null;
    const box = canvas.getBoundingClientRect();
    return cellAt(event.clientX - box.left - layout.gutter, event.clientY - box.top - layout.top, layout);
  }

  // The steps of the shown columns (all of them, or the zoomed range).
  function shownSteps() {
    const steps = state.table.steps;
    return heatmap.cols === steps.length
      ? steps
      : steps.slice(heatmap.firstStep, heatmap.firstStep + heatmap.cols);
  }

  function showTooltip(cell, x, y) {
    const table = state.table;
    const layer = heatmap.layerIndices[cell.row];
    const t = heatmap.firstStep + cell.col;
    const k = statIndex(table, state.stat);
    const kind = cellKind(table, t, layer, k);
    const raw = kind === KIND.NONE ? null : cellValue(table, t, layer, k);
    const scaledValue = heatmap.scaled[cell.row * heatmap.cols + cell.col];
    const beyond =
      heatmap.kinds[cell.row * heatmap.cols + cell.col] === KIND.VALUE ? outside(domain, scaledValue) : 0;
    replaceChildren(
      tooltip,
      h('div', { class: 'tt-layer', text: modelLayerTitle(table.layers[layer], table.modelLayer) }),
      h('div', { class: 'tt-step', text: `step ${table.steps[t]}` }),
      h(
        'div',
        {},
        `${state.stat} = `,
        h('span', { class: 'tt-value', text: formatShort(raw), attrs: { 'data-value': formatExact(raw) } }),
      ),
      beyond
        ? h('div', {
            class: 'muted',
            text: `${beyond > 0 ? 'above' : 'below'} the colour range: drawn at its end`,
          })
        : null,
    );
    tooltip.dataset.layer = table.layers[layer];
    tooltip.dataset.step = String(table.steps[t]);
    tooltip.hidden = false;
    // Keep the tooltip inside the panel: flip it above or left of the pointer near an edge.
    const width = tooltip.offsetWidth || 220;
    const height = tooltip.offsetHeight || 70;
    const left = x + 14 + width > wrap.clientWidth ? x - 14 - width : x + 14;
    const top = y + 14 + height > wrap.clientHeight ? y - 14 - height : y + 14;
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${Math.max(0, top)}px`;
  }

  // Dragging across columns selects a step range to zoom into; a click selects one cell.
  let drag = null;
  canvas.addEventListener('mousedown', (event) => {
    const cell = cellFromEvent(event);
    drag = cell ? { from: cell.col, to: cell.col } : null;
  });
  window.addEventListener('mouseup', (event) => {
    if (!drag) return;
    const { from, to } = drag;
    drag = null;
    if (Math.abs(to - from) < 2) return;
    const steps = shownSteps();
    dragged = true;
    actions.setZoom({ from: steps[Math.min(from, to)], to: steps[Math.max(from, to)] });
    event.preventDefault();
  });
  let dragged = false;
  canvas.addEventListener('mousemove', (event) => {
    const cell = cellFromEvent(event);
    if (!cell) {
      tooltip.hidden = true;
      return;
    }
    if (drag && (event.buttons & 1) === 1 && cell.col !== drag.to) {
      drag.to = cell.col;
      draw();
    }
    const box = canvas.getBoundingClientRect();
    showTooltip(cell, event.clientX - box.left, event.clientY - box.top);
    if (!hover || hover.row !== cell.row || hover.col !== cell.col) {
      hover = cell;
      draw();
    }
  });
  canvas.addEventListener('mouseleave', () => {
    tooltip.hidden = true;
    hover = null;
    if (state && state.table && heatmap) draw();
  });
  canvas.addEventListener('click', (event) => {
    if (dragged) {
      dragged = false;
      return;
    }
    const cell = cellFromEvent(event);
    if (cell) actions.selectCell(heatmap.layerIndices[cell.row], heatmap.firstStep + cell.col);
  });
  canvas.addEventListener('keydown', (event) => {
    if (!state || !state.table) return;
    const moves = {
      ArrowUp: [-1, 0],
      ArrowDown: [1, 0],
      ArrowLeft: [0, -1],
      ArrowRight: [0, 1],
      PageUp: [-10, 0],
      PageDown: [10, 0],
      Home: [0, -Infinity],
      End: [0, Infinity],
    };
    if (event.key === 'Escape' && state.zoom) {
      event.preventDefault();
      actions.setZoom(null);
      return;
    }
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    const rows = heatmap.rows;
    const cols = state.table.steps.length;
    if (!rows) return;
    const current = Math.max(0, heatmap.layerIndices.indexOf(state.layerIndex ?? -1));
    const row = clamp(current + move[0], 0, rows - 1);
    const col = clamp(
      state.stepIndex + (Number.isFinite(move[1]) ? move[1] : move[1] > 0 ? cols : -cols),
      0,
      cols - 1,
    );
    actions.selectCell(heatmap.layerIndices[row], col);
    const shown = col - heatmap.firstStep;
    if (shown >= 0 && shown < heatmap.cols) {
      showTooltip(
        { row, col: shown },
        layout.gutter + shown * (layout.width / heatmap.cols),
        layout.top + row * (layout.height / rows),
      );
    }
  });
  canvas.addEventListener('blur', () => {
    tooltip.hidden = true;
  });

  return view;
}

/** A canvas showing the colour scale from its low to its high end (for legends). */
export function colourRamp() {
  const bar = document.createElement('canvas');
  bar.className = 'legend-bar';
  bar.setAttribute('aria-hidden', 'true');
  const ramp = {
    rows: 1,
    cols: 256,
    min: 0,
    max: 255,
    kinds: new Uint8Array(256),
    scaled: Float32Array.from({ length: 256 }, (_, i) => i),
  };
  return heatmapImage(ramp, bar);
}

function drawLegend(legend, heatmap, domain) {
  const value = (v) => (heatmap.log ? Math.pow(10, v) : v);
  const swatch = (colour, text, glyph, cls) =>
    h(
      'span',
      { class: `swatch-item ${cls || ''}`.trim() },
      h('span', { class: 'swatch', text: glyph || '', attrs: { style: `background:${colour}` } }),
      text,
    );
  const perLayer = Boolean(domain.rowDomains);
  const finite = Number.isFinite(domain.lo) && Number.isFinite(domain.hi);
  const scale = h('span', { class: 'legend-scale' }, colourRamp());
  const bent = finite && !perLayer && domain.knee !== null;
  if (finite && !perLayer) {
    for (const { tick, at } of legendTicks(heatmap.log, domain)) {
      scale.appendChild(
        h('span', {
          class: 'legend-tick',
          text: formatShort(tick),
          attrs: { style: `left:${(at * 100).toFixed(1)}%` },
        }),
      );
    }
  }
  if (bent) {
    scale.appendChild(
      h('span', {
        class: 'legend-knee',
        title: 'the scale bends here: above, the growth into NaN/∞',
        attrs: { style: `left:${(KNEE_AT * 100).toFixed(1)}%` },
      }),
    );
  }
  const ends = perLayer
    ? [
        h('span', { class: 'legend-min', text: 'each layer: its min' }),
        scale,
        h('span', { class: 'legend-max', text: 'its max' }),
      ]
    : [
        h('span', {
          class: 'legend-min',
          text: finite ? `${domain.below ? '≤ ' : ''}${formatShort(value(domain.lo))}` : '—',
        }),
        scale,
        h('span', {
          class: 'legend-max',
          text: finite ? `${domain.above ? '≥ ' : ''}${formatShort(value(domain.hi))}` : '—',
        }),
      ];
  const clipped = domain.below + domain.above;
  replaceChildren(
    legend,
    ends,
    h('span', { class: 'legend-mode muted', text: RANGE_LABELS[domain.mode] }),
    bent
      ? h('span', {
          class: 'legend-growth',
          text: `growth into NaN/∞ kept: ${formatShort(value(domain.knee))} to ${formatShort(value(domain.hi))} on the top ${Math.round((1 - KNEE_AT) * 100)} % of the scale`,
        })
      : null,
    clipped
      ? h('span', {
          class: 'legend-clipped',
          text: `${clipped} cell${clipped > 1 ? 's' : ''} beyond the range, drawn at its ends`,
        })
      : null,
    swatch(SPECIAL_COLOURS.nonfinite, 'NaN / ∞', '✕', 'legend-nonfinite'),
    swatch(SPECIAL_COLOURS.none, 'no gradient', '∅', 'legend-none'),
    heatmap.log ? swatch(SPECIAL_COLOURS.below, '≤ 0') : null,
  );
}

// The colour bar's ticks with their places (0..1) on it: round values of the fenced range,
// and on a bent axis a few more over the growth above the knee, none crowding another.
function legendTicks(log, domain) {
  const ticksOver = (lo, hi, n) =>
    log ? axisTicks([Math.pow(10, lo), Math.pow(10, hi)], true, n) : axisTicks([lo, hi], false, n);
  const bent = domain.knee !== null;
  const candidates = bent
    ? [...ticksOver(domain.lo, domain.knee, 3), ...ticksOver(domain.knee, domain.hi, 2)]
    : ticksOver(domain.lo, domain.hi, 4);
  const placed = [];
  for (const tick of candidates) {
    const v = log ? Math.log10(tick) : tick;
    if (v < domain.lo - 1e-9 || v > domain.hi + 1e-9) continue;
    const at = colourPosition(domain, v);
    if (placed.some((p) => Math.abs(p.at - at) < 0.12)) continue;
    placed.push({ tick, at });
  }
  return placed;
}

// A rectangle drawn as a wide `outer` line under a narrow `inner` one.
function outline(context, [x, y, w, h], outer, inner) {
  context.lineWidth = 4;
  context.strokeStyle = outer;
  context.strokeRect(x, y, w, h);
  context.lineWidth = 2;
  context.strokeStyle = inner;
  context.strokeRect(x, y, w, h);
}

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}
