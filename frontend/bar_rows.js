// The rows of a bar chart, made once and refilled in place at every step (the gradient-flow
// bars and the comparison's bars share it). Of 500 rows some 30 are in view: a refill fills
// those (and the rows the caller names) at once and the others right after, in slices that
// leave the page responsive, or as soon as they scroll near the view, whichever comes first.

import { nextTask, replaceChildren } from './dom.js';

// More rows than a chart shows at once (rows of 18 px or more).
const ROWS_IN_VIEW = 40;

/**
 * Keep the rows of `list`: `create(item, n)` makes a row's parts ({element, ...}) once,
 * `fill(parts, item, context)` writes an item into them (only what changed, ideally).
 * `root` is the scrolling element the rows are watched in (null: the viewport); `head`, when
 * given, stays as the list's first child. Returns {show(items, key, context, now), clear()}:
 * rows are made again only when `key` (what identifies them: names, labels) changes;
 * `now(item)` says which rows (the selection) to fill at once besides those in view; clear
 * empties the list (the next show makes its rows).
 * @example
 * const list = refilledRows(rows, { create: (row) => ({ element: h('li') }), fill: (parts, row) => {} });
 * list.show(model.rows, names.join('\n'), model, (row) => row.index === selected);
 */
export function refilledRows(list, { create, fill, root = list, head = null }) {
  let key = null;
  let rowParts = [];
  let shown = null; // {items, context, generation}: what every row is to show
  let generation = 0;
  let observed = false; // the observer has reported on the current rows
  const near = new Set();
  const partsOf = new WeakMap();
  const observer =
    typeof IntersectionObserver === 'function'
      ? new IntersectionObserver(
          (entries) => {
            observed = true;
            for (const entry of entries) {
              const parts = partsOf.get(entry.target);
              if (!entry.isIntersecting) near.delete(parts);
              else {
                near.add(parts);
                if (shown && parts.filled !== shown.generation) fillOne(parts);
              }
            }
          },
          { root, rootMargin: '300px 0px' },
        )
      : null;
  let sliceQueued = false;

  function fillOne(parts) {
    fill(parts, shown.items[parts.n], shown.context);
    parts.filled = shown.generation;
  }

  function fillLater() {
    if (sliceQueued) return;
    sliceQueued = true;
    nextTask(() => {
      sliceQueued = false;
      if (!shown) return;
      const until = performance.now() + 8;
      for (const parts of rowParts) {
        if (parts.filled === shown.generation) continue;
        if (performance.now() > until) return fillLater();
        fillOne(parts);
      }
    });
  }

  function show(items, itemsKey, context, now = () => false) {
    shown = { items, context, generation: ++generation };
    const opened = rowParts.length === 0; // a list built from empty is scrolled to its top
    if (itemsKey !== key) {
      key = itemsKey;
      if (observer) observer.disconnect();
      near.clear();
      observed = false;
      rowParts = items.map((item, n) => {
        const parts = create(item, n);
        parts.n = n;
        partsOf.set(parts.element, parts);
        if (observer) observer.observe(parts.element);
        return parts;
      });
      replaceChildren(
        list,
        head,
        rowParts.map((parts) => parts.element),
      );
    }
    if (!observed && !opened) {
      rowParts.forEach(fillOne);
      return;
    }
    // Before the observer has reported, the rows in view of a new list are its first ones.
    for (const parts of observed ? near : rowParts.slice(0, ROWS_IN_VIEW)) fillOne(parts);
    for (const parts of rowParts) if (now(items[parts.n])) fillOne(parts);
    fillLater();
  }

  function clear() {
    key = null;
    rowParts = [];
    shown = null;
    if (observer) observer.disconnect();
    near.clear();
    replaceChildren(list);
  }

  return { show, clear };
}
