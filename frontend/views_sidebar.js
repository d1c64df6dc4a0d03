// The left column: the alerts (each one jumps to its step and layer) and the
// layer list with a filter box, a sparkline of the statistic and a status badge.

import { cssVar, h, nextTask, replaceChildren, setAttr, setText, sizeCanvas, watchWidth } from './dom.js';
import { groupBadge, layerTree } from './layer_tree.js';
import { modelLayerLabel, modelLayerTitle } from './model_layer.js';
import { distinctLabels } from './names.js';
import { alertTitle, downsampleSeries, layerSeries, layerStates, usesLog } from './shape.js';

const ALERT_GLYPHS = { nonfinite: '✕', vanishing: '▼', exploding: '▲', dead_units: '◌' };
const SPARK_W = 64;
const SPARK_H = 18;
// More layers than the list (half the window high) shows at once.
const SPARKS_IN_VIEW = 40;

// The cause comes first: a non-finite gradient is usually what the other alerts follow from.
const KIND_ORDER = ['nonfinite', 'exploding', 'vanishing', 'dead_units'];

/** Build the alerts list: filterable by kind, the cause first, each alert's message shown. */
export function createAlerts(actions) {
  const heading = h('h2', { text: 'Alerts' });
  const kinds = h('div', { class: 'alert-kinds', attrs: { role: 'group', 'aria-label': 'Alert kinds' } });
  const list = h('ol', { class: 'alert-list' });
  const note = h('p', { class: 'muted' });
  const element = h(
    'section',
    { class: 'panel alerts-panel', attrs: { 'aria-label': 'Alerts' } },
    heading,
    kinds,
    list,
    note,
  );
  let shown = null;
  const hidden = new Set();

  function build(alerts) {
    const counts = new Map();
    for (const alert of alerts) counts.set(alert.kind, (counts.get(alert.kind) || 0) + 1);
    const order = [...counts.keys()].sort((a, b) => rank(a) - rank(b));
    replaceChildren(
      kinds,
      order.map((kind) =>
        h(
          'button',
          {
            class: `alert-kind-toggle kind-${kind}`,
            attrs: {
              type: 'button',
              'data-kind': kind,
              'aria-pressed': hidden.has(kind) ? 'false' : 'true',
            },
            title: `Show or hide the ${alertTitle(kind)} alerts`,
            on: {
              click: () => {
                if (hidden.has(kind)) hidden.delete(kind);
                else hidden.add(kind);
                build(alerts);
              },
            },
          },
          h('span', {
            class: 'alert-glyph',
            text: ALERT_GLYPHS[kind] || '!',
            attrs: { 'aria-hidden': 'true' },
          }),
          `${alertTitle(kind)} (${counts.get(kind)})`,
        ),
      ),
    );
    const sorted = alerts
      .map((alert, n) => ({ alert, n }))
      .sort((a, b) => rank(a.alert.kind) - rank(b.alert.kind) || a.alert.step - b.alert.step);
    replaceChildren(
      list,
      sorted
        .filter(({ alert }) => !hidden.has(alert.kind))
        .map(({ alert, n }) =>
          h(
            'li',
            {},
            h(
              'button',
              {
                class: `alert-link kind-${alert.kind}`,
                attrs: {
                  type: 'button',
                  'data-step': alert.step,
                  'data-layer': alert.layer,
                  'data-kind': alert.kind,
                  'data-index': n,
                },
                on: { click: () => actions.jumpToAlert(alert) },
              },
              h('span', {
                class: 'alert-glyph',
                text: ALERT_GLYPHS[alert.kind] || '!',
                attrs: { 'aria-hidden': 'true' },
              }),
              h('span', { class: 'alert-kind', text: alertTitle(alert.kind) }),
              h('span', { class: 'alert-step', text: `step ${alert.step}` }),
              h('span', { class: 'alert-layer', text: alert.layer, title: alert.layer }),
              alert.message ? h('span', { class: 'alert-message', text: alert.message }) : null,
            ),
          ),
        ),
    );
  }

  function update(state) {
    const { alerts, omitted } = state.alerts;
    heading.textContent = `Alerts (${alerts.length})`;
    if (shown !== alerts) {
      build(alerts);
      shown = alerts;
    }
    const active = state.table ? state.table.steps[state.stepIndex] : null;
    const layer = state.table && state.layerIndex !== null ? state.table.layers[state.layerIndex] : null;
    for (const button of list.querySelectorAll('.alert-link')) {
      const current = Number(button.dataset.step) === active && button.dataset.layer === layer;
      button.classList.toggle('current', current);
      button.setAttribute('aria-current', current ? 'true' : 'false');
    }
    note.textContent =
      alerts.length === 0
        ? 'No alerts: no non-finite, vanishing or exploding gradients and no dead units were detected.'
        : omitted
          ? `${omitted} later alerts were not recorded (the history is capped).`
          : '';
  }

  return { element, update };
}

function rank(kind) {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/**
 * Build the layer list with its filter box: a tree of module prefixes (`encoder.layers.0`)
 * where a prefix holds two layers or more, each group collapsible and badged. Returns
 * {element, update(state)}.
 */
export function createLayerList(actions) {
  const filter = h('input', {
    class: 'layer-filter',
    attrs: { type: 'search', placeholder: 'Filter layers', 'aria-label': 'Filter layers', id: 'nv-filter' },
    on: { input: () => actions.setFilter(filter.value) },
  });
  const heading = h('h2', { text: 'Layers' });
  const list = h('ul', { class: 'layer-list' });
  const help = h('p', {
    class: 'hint muted',
    text: 'Words must all match; | separates alternatives; * and ? are wildcards (linear|norm, layers.?.self*).',
  });
  const empty = h('p', { class: 'empty-note', attrs: { hidden: true } });
  const element = h(
    'section',
    { class: 'panel layers-panel', attrs: { 'aria-label': 'Layers' } },
    heading,
    filter,
    help,
    empty,
    list,
  );
  let labelKey = '';
  let sparkKey = '';
  let flat = true;
  const items = [];
  const groups = [];
  // The groups shown collapsed (state.collapsed, by prefix: kept across runs, refreshes and in the URL).
  let collapsed = new Set();
  // The labels' width follows the list's; reading it at each render would force a layout.
  let shownVisible = null;
  const listWidth = watchWidth(list, (width) => {
    if (width && flat && shownVisible) shortenNames(shownVisible);
  });

  // Up and down move the selection through the layers the filter and the open groups show.
  list.addEventListener('keydown', (event) => {
    const delta = { ArrowUp: -1, ArrowDown: 1 }[event.key];
    const index = Number(event.target.dataset && event.target.dataset.index);
    if (!delta || !Number.isInteger(index) || !event.target.classList.contains('layer-item')) return;
    let next = index + delta;
    while (items[next] && !shownNow(items[next].button)) next += delta;
    if (!items[next]) return;
    event.preventDefault();
    items[next].button.focus();
    actions.selectLayer(next);
  });

  function toggleGroup(prefix) {
    const next = new Set(collapsed);
    if (next.has(prefix)) next.delete(prefix);
    else next.add(prefix);
    actions.setCollapsed([...next]);
  }

  function showCollapsed(group, closed) {
    group.children.hidden = closed;
    group.toggle.setAttribute('aria-expanded', closed ? 'false' : 'true');
    group.chevron.textContent = closed ? '▸' : '▾';
  }

  function build(state) {
    items.length = 0;
    groups.length = 0;
    const table = state.table;
    const log = usesLog(state.stat, state.log);
    const ink = cssVar('--fg', '#333');
    const tree = layerTree(table.layers);
    flat = tree.every((node) => node.kind === 'layer');
    const leaf = (node) => {
      const j = node.index;
      const name = node.name;
      const own = name === table.modelLayer;
      const spark = h('canvas', { class: 'sparkline', attrs: { 'aria-hidden': 'true' } });
      sparks.push(() => drawSparkline(spark, layerSeries(table, j, state.stat).values, log, ink));
      const badge = h('span', { class: 'badge' });
      const text = own ? modelLayerLabel(node.label) : node.label;
      const button = h(
        'button',
        {
          class: `layer-item${own ? ' model-layer' : ''}`,
          attrs: { type: 'button', 'data-layer': name, 'data-index': j },
          on: { click: () => actions.selectLayer(j) },
        },
        h('span', {
          class: 'layer-name',
          text,
          title: modelLayerTitle(name, table.modelLayer),
          attrs: { 'data-full': name },
        }),
        spark,
        badge,
      );
      const item = h('li', {}, button);
      items[j] = { item, button, badge, name, text, label: button.firstChild };
      return item;
    };
    const branch = (node) => {
      const chevron = h('span', { class: 'layer-group-chevron', attrs: { 'aria-hidden': 'true' } });
      const count = h('span', { class: 'layer-group-count' });
      const toggle = h(
        'button',
        {
          class: 'layer-group-toggle',
          attrs: { type: 'button', 'data-group': node.prefix },
          title: `${node.prefix}: ${node.layers.length} layers (click to collapse or expand)`,
          on: { click: () => toggleGroup(node.prefix) },
        },
        chevron,
        h('span', { class: 'layer-group-name', text: node.label }),
        count,
      );
      const badge = h('span', { class: 'badge group-badge' });
      const children = h('ul', { class: 'layer-sublist' }, node.children.map(render));
      const item = h(
        'li',
        { class: 'layer-group', attrs: { 'data-group': node.prefix } },
        h('div', { class: 'layer-group-head' }, toggle, badge),
        children,
      );
      const group = { node, item, toggle, chevron, count, badge, children };
      groups.push(group);
      showCollapsed(group, collapsed.has(node.prefix));
      return item;
    };
    const render = (node) => (node.kind === 'layer' ? leaf(node) : branch(node));
    const sparks = [];
    replaceChildren(list, tree.map(render));
    list.classList.toggle('layer-tree', !flat);
    drawSparklines(sparks);
  }

  // The list shows some 25 layers at once: their sparklines are drawn now, the others' in
  // short slices right after (a newer build drops what is left of an older one).
  let sparkQueue = [];
  function drawSparklines(sparks) {
    sparks.slice(0, SPARKS_IN_VIEW).forEach((draw) => draw());
    const queue = (sparkQueue = sparks.slice(SPARKS_IN_VIEW));
    const slice = () => {
      if (queue !== sparkQueue) return;
      const until = performance.now() + 8;
      while (queue.length && performance.now() < until) queue.shift()();
      if (queue.length) nextTask(slice);
    };
    if (queue.length) nextTask(slice);
  }

  function update(state) {
    if (!state.table) {
      replaceChildren(list);
      sparkKey = '';
      return;
    }
    collapsed = new Set(state.collapsed || []);
    const key = `${state.version}|${state.stat}|${state.log}|${document.documentElement.dataset.theme || ''}`;
    if (key !== sparkKey) {
      build(state);
      sparkKey = key;
      labelKey = '';
    }
    if (filter.value !== state.filter) filter.value = state.filter;
    const visible = new Set(state.visible || state.table.layers.map((_, j) => j));
    const states = layerStates(state.table, state.stepIndex, state.stat);
    heading.textContent = `Layers (${visible.size}/${state.table.layers.length})`;
    empty.hidden = visible.size > 0;
    empty.textContent = visible.size ? '' : `No layer matches “${state.filter}”.`;
    if (flat) shortenNames(visible);
    items.forEach(({ item, button, badge, name }, j) => {
      if (item.hidden === visible.has(j)) item.hidden = !visible.has(j);
      const selected = j === state.layerIndex;
      button.classList.toggle('selected', selected);
      setAttr(button, 'aria-pressed', selected ? 'true' : 'false');
      const count = state.alerts.byLayer.get(name) || 0;
      const glyph = states[j] === 'none' ? '∅' : states[j] === 'nonfinite' ? '✕' : '';
      setText(badge, `${glyph}${count ? ` ⚑${count}` : ''}`.trim());
      setAttr(badge, 'class', `badge ${states[j]}${count ? ' alerted' : ''}`);
      setAttr(badge, 'title', [
        states[j] === 'none'
          ? 'no gradient at this step'
          : states[j] === 'nonfinite'
            ? 'non-finite at this step'
            : '',
        count ? `${count} alert${count > 1 ? 's' : ''}` : '',
      ]
        .filter(Boolean)
        .join('; '));
    });
    for (const group of groups) {
      const { node } = group;
      const shown = node.layers.filter((j) => visible.has(j)).length;
      group.item.hidden = shown === 0;
      const total = node.layers.length;
      setText(group.count, shown === total ? `(${total})` : `(${shown}/${total})`);
      const badge = groupBadge(node, states, state.table.layers, state.alerts.alerts, visible);
      setText(group.badge, badge.text);
      setAttr(group.badge, 'class', badge.className);
      setAttr(group.badge, 'title', badge.title);
    }
    for (const group of groups) {
      const closed = collapsed.has(group.node.prefix);
      if (group.children.hidden !== closed) showCollapsed(group, closed);
    }
  }

  // Labels that tell the shown layers apart at the list's width (full names on hover); a flat list only:
  // in a tree each label is the part after its group's prefix.
  function shortenNames(visible) {
    shownVisible = visible;
    const shown = items.filter((_, j) => visible.has(j));
    const probe = shown.length ? shown[0].label : null;
    const key = `${shown.map((i) => i.text).join('\n')}|${listWidth()}`;
    if (key === labelKey || !shown.length) return;
    labelKey = key;
    const width = probe && probe.clientWidth ? probe.clientWidth : 150;
    const context = document.createElement('canvas').getContext('2d');
    const style = getComputedStyle(probe);
    context.font = `${style.fontSize} ${style.fontFamily}`;
    const labels = distinctLabels(
      shown.map((i) => i.text),
      (text) => context.measureText(text).width <= width - 2,
    );
    shown.forEach((item, n) => {
      item.label.textContent = labels[n];
    });
  }

  return { element, update };
}

// Whether a list entry is on screen now: not filtered out and not inside a collapsed group.
function shownNow(element) {
  return element.offsetParent !== null;
}

function drawSparkline(canvas, values, log, ink) {
  const context = sizeCanvas(canvas, SPARK_W, SPARK_H);
  const shown = values.map((v) =>
    typeof v === 'number' && Number.isFinite(v) ? (log ? (v > 0 ? Math.log10(v) : null) : v) : null,
  );
  const points = downsampleSeries(shown, SPARK_W);
  if (points.length === 0) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p.value);
    hi = Math.max(hi, p.value);
  }
  const span = hi > lo ? hi - lo : 1;
  const n = Math.max(1, values.length - 1);
  context.strokeStyle = ink;
  context.lineWidth = 1;
  context.beginPath();
  points.forEach((p, i) => {
    const x = (p.index / n) * (SPARK_W - 2) + 1;
    const y = SPARK_H - 2 - ((p.value - lo) / span) * (SPARK_H - 4);
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}
