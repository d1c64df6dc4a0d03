// The Export menu: the current view's data as CSV or JSON, and the heatmap, the bar
// chart and the attention matrix as PNG. Files are made in the page and downloaded;
// nothing goes to a server.

import { h } from './dom.js';
import { fileName, toCsv, viewData } from './export.js';
import {
  KIND,
  axisFraction,
  barDomain,
  barModel,
  formatShort,
  runThresholds,
  usesLog,
  zoomIndices,
} from './shape.js';
import { runColour } from './compare.js';

/** Build the Export menu; `getState` returns the dashboard's state. Returns {element, update(state)}. */
export function createExportMenu(getState) {
  const status = h('span', { class: 'export-status muted', attrs: { 'aria-live': 'polite' } });
  const item = (id, label, run) =>
    h('button', { text: label, attrs: { type: 'button', id }, on: { click: () => guarded(run) } });
  const attention = item('nv-export-attention', 'Attention matrix (PNG)', () =>
    canvasFile(upscaled(document.querySelector('.attention-canvas')), 'attention'),
  );
  const element = h(
    'details',
    { class: 'control export-menu' },
    h('summary', { text: 'Export' }),
    h(
      'div',
      { class: 'export-list' },
      item('nv-export-csv', 'Heatmap data (CSV)', () => dataFile('csv')),
      item('nv-export-json', 'Heatmap data (JSON)', () => dataFile('json')),
      item('nv-export-heatmap', 'Heatmap (PNG)', () =>
        canvasFile(document.querySelector('.heatmap-canvas'), 'heatmap'),
      ),
      item('nv-export-bars', 'Bar chart (PNG)', () => canvasFile(barsCanvas(getState()), 'bars')),
      attention,
      status,
    ),
  );

  function guarded(run) {
    try {
      run();
    } catch (error) {
      status.textContent = `Could not export: ${error.message}`;
    }
  }

  function base(state, what) {
    const step = state.table.steps[state.stepIndex];
    return [state.run, state.stat, what, `step${step}`];
  }

  function dataFile(kind) {
    const state = getState();
    const range = zoomIndices(state.table.steps, state.zoom) || [0, state.table.steps.length - 1];
    const data = viewData(state.table, state.stat, state.visible, range);
    const text = kind === 'csv' ? toCsv(data) : JSON.stringify(data);
    const type = kind === 'csv' ? 'text/csv' : 'application/json';
    download(new Blob([text], { type }), fileName(base(state, 'heatmap'), kind));
  }

  function canvasFile(canvas, what) {
    if (!canvas || !canvas.width) throw new Error(`there is no ${what} on show`);
    const name = fileName(base(getState(), what), 'png');
    canvas.toBlob((blob) => download(blob, name), 'image/png');
  }

  function download(blob, name) {
    const url = URL.createObjectURL(blob);
    const link = h('a', { attrs: { href: url, download: name } });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    element.dataset.lastFile = name;
    status.textContent = `Saved ${name}`;
  }

  function update(state) {
    attention.disabled = !document.querySelector('.attention-panel:not([hidden]) .attention-canvas');
    element.hidden = !state.table;
  }

  return { element, update };
}

// The attention canvas holds one pixel per cell: enlarge it without smoothing.
function upscaled(source) {
  if (!source) return null;
  const cell = Math.max(1, Math.round(480 / Math.max(source.width, source.height)));
  const canvas = document.createElement('canvas');
  canvas.width = source.width * cell;
  canvas.height = source.height * cell;
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas;
}

// The bar chart of the selected step drawn on a canvas: labels, bars, ✕ and ∅, the axis ends.
function barsCanvas(state) {
  const table = state.table;
  const model = barModel(table, state.stepIndex, [state.stat], {
    thresholds: runThresholds(table, state.alerts.alerts),
  });
  const visible = new Set(state.visible);
  model.rows = model.rows.filter((row) => visible.has(row.index));
  const log = usesLog(state.stat, state.log);
  const domain = barDomain(model, log);
  const rowH = 16;
  const labelW = 260;
  const plotW = 520;
  const canvas = document.createElement('canvas');
  canvas.width = labelW + plotW + 90;
  canvas.height = 40 + model.rows.length * rowH;
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.font = '12px monospace';
  context.fillStyle = '#202124';
  context.fillText(`${state.run} · ${state.stat} at step ${model.step}${log ? ' (log)' : ''}`, 8, 16);
  context.fillText(formatShort(domain[0]), labelW, 32);
  context.textAlign = 'right';
  context.fillText(formatShort(domain[1]), labelW + plotW, 32);
  const colour = runColour(state.run, state.runOrder || [state.run]);
  model.rows.forEach((row, n) => {
    const y = 40 + n * rowH;
    const cell = row.cells[0];
    context.textAlign = 'right';
    context.fillStyle = '#202124';
    context.fillText(row.layer.length > 34 ? `…${row.layer.slice(-33)}` : row.layer, labelW - 8, y + 12);
    if (cell.kind === KIND.VALUE) {
      const end = axisFraction(cell.value, domain, log);
      context.fillStyle = colour;
      context.fillRect(labelW, y + 2, Math.max(1, end * plotW), rowH - 4);
    } else {
      context.textAlign = 'left';
      context.fillStyle = cell.kind === KIND.NONE ? '#666666' : '#c4006b';
      context.fillText(cell.kind === KIND.NONE ? '∅ no gradient' : '✕ NaN/∞', labelW + 4, y + 12);
    }
    context.textAlign = 'left';
    context.fillStyle = '#616161';
    context.fillText(formatShort(cell.value), labelW + plotW + 6, y + 12);
  });
  return canvas;
}
