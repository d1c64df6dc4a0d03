// The read-out of a bar chart under the pointer (or the keyboard focus): a box below the
// hovered row with its layer, step and values, the row outlined and the bar under the
// pointer marked. The gradient-flow bars and the comparison's bars share it.

import { h, replaceChildren } from './dom.js';

/**
 * Show a read-out over the rows (`rowSelector`) inside `wrap`, an element of the chart that
 * its redraws keep (position: relative; the read-out box is added to it). A row element
 * carries what to read out in its `readout` property: {layer, step, lines: [{text, swatch,
 * hot}]}, where a line with `hot` set to an element is stressed while the pointer is on that
 * element. Returns {element, hide(), refresh()}: refresh, after a redraw, reads the row of the
 * same layer out again (its new values), or hides the box when that row is gone.
 * @example attachBarReadout(wrap, '.bar-row') // rows: button.readout = {layer: 'fc1', step: 10, lines: [{text: 'grad_l2 = 0.13'}]}
 */
export function attachBarReadout(wrap, rowSelector) {
  const box = h('div', {
    class: 'tooltip bar-readout',
    attrs: { role: 'status', 'aria-live': 'polite', hidden: true },
  });
  wrap.appendChild(box);
  let shownRow = null;
  let hotBar = null;
  let lastX = null;

  function show(row, target, pointerX) {
    const readout = row.readout;
    if (!readout) return hide();
    lastX = pointerX;
    if (shownRow !== row) {
      if (shownRow) shownRow.classList.remove('hovered');
      row.classList.add('hovered');
      shownRow = row;
    }
    const hot = readout.lines.find((line) => line.hot && line.hot.contains(target));
    const bar = hot ? hot.hot : null;
    if (bar !== hotBar) {
      if (hotBar) hotBar.classList.remove('hot');
      if (bar) bar.classList.add('hot');
      hotBar = bar;
    }
    replaceChildren(
      box,
      h('div', { class: 'tt-layer', text: readout.layer }),
      h('div', { class: 'tt-step', text: `step ${readout.step}` }),
      readout.lines.map((line) =>
        h(
          'div',
          { class: `tt-line${line === hot ? ' tt-hot' : ''}` },
          line.swatch ? h('span', { class: 'swatch', attrs: { style: `background:${line.swatch}` } }) : null,
          line.text,
        ),
      ),
    );
    box.dataset.layer = readout.layer;
    box.dataset.step = String(readout.step);
    box.hidden = false;
    const area = wrap.getBoundingClientRect();
    const at = row.getBoundingClientRect();
    const width = box.offsetWidth || 220;
    const height = box.offsetHeight || 60;
    const x = (pointerX ?? at.left + at.width / 3) - area.left + 12;
    const below = at.bottom - area.top + 2;
    // Near the chart's bottom the box goes above the row, so it never leaves the panel.
    const top = below + height > wrap.clientHeight ? at.top - area.top - height - 2 : below;
    box.style.left = `${Math.max(0, Math.min(x, wrap.clientWidth - width))}px`;
    box.style.top = `${Math.max(0, top)}px`;
  }

  function hide() {
    box.hidden = true;
    if (shownRow) shownRow.classList.remove('hovered');
    if (hotBar) hotBar.classList.remove('hot');
    shownRow = null;
    hotBar = null;
  }

  function refresh() {
    if (!shownRow) return;
    const layer = shownRow.readout && shownRow.readout.layer;
    const row = [...wrap.querySelectorAll(rowSelector)].find((r) => r.readout && r.readout.layer === layer);
    if (!row) return hide();
    const target = hotBar && hotBar.isConnected ? hotBar : row;
    show(row, target, lastX);
  }

  const rowOf = (event) => (event.target.closest ? event.target.closest(rowSelector) : null);
  wrap.addEventListener('mousemove', (event) => {
    const row = rowOf(event);
    if (row && wrap.contains(row)) show(row, event.target, event.clientX);
    else hide();
  });
  wrap.addEventListener('mouseleave', hide);
  wrap.addEventListener('focusin', (event) => {
    const row = rowOf(event);
    if (row) show(row, event.target, null);
  });
  wrap.addEventListener('focusout', hide);
  return { element: box, hide, refresh };
}
