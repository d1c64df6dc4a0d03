// Building DOM safely. Every string child becomes a text node and every
// attribute goes through setAttribute, so a model-supplied name such as
// `<img src=x onerror=alert(1)>` is shown as text and never parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Create an element: h('button', {class: 'x', on: {click: f}, attrs: {'aria-label': 'y'}}, 'text', child).
 * Props: class, text, title, attrs (setAttribute), props (assigned as properties), on (listeners).
 */
export function h(tag, options = {}, ...children) {
  return fill(document.createElement(tag), options, children);
}

/** Create an SVG element the same way; attrs are SVG attributes. */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), { attrs }, children);
}

function fill(element, options, children) {
  const { class: className, text, title, attrs, props, on } = options || {};
  if (className) element.setAttribute('class', className);
  if (text !== undefined && text !== null) element.textContent = String(text);
  if (title) element.setAttribute('title', String(title));
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) element.setAttribute(name, String(value));
  }
  Object.assign(element, props || {});
  for (const [type, listener] of Object.entries(on || {})) element.addEventListener(type, listener);
  append(element, children);
  return element;
}

/** Append children: nodes, strings (as text), arrays of them; null and false are skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `parent`. */
export function replaceChildren(parent, ...children) {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  return append(parent, children);
}

/** A <select> with options [{value, label}] and the given value selected. */
export function fillSelect(select, options, value) {
  replaceChildren(
    select,
    options.map((o) => h('option', { text: o.label, props: { value: String(o.value) } })),
  );
  if (value !== undefined && value !== null) select.value = String(value);
  return select;
}

// The palette changes only with the theme: read each property once per theme (reading
// computed style after DOM changes forces the browser to restyle the whole page).
const cssCache = new Map();

/** A CSS custom property of the document, for drawing on canvases in the current theme. */
export function cssVar(name, fallback = '') {
  const key = `${document.documentElement.dataset.theme || ''}|${name}`;
  if (!cssCache.has(key)) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    if (!value) return fallback; // the style sheet is not in yet: ask again next time
    cssCache.set(key, value);
  }
  return cssCache.get(key);
}

/**
 * Size a canvas for crisp drawing at the device pixel ratio; returns its 2D
 * context scaled so that drawing uses CSS pixels.
 */
export function sizeCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d');
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
}

// A step change refills hundreds of rows: writing a value equal to the shown one still
// costs a style recalculation, so these write only what differs.
const writtenStyles = new WeakMap();

/** Set `element`'s text unless it already shows it. @example setText(label, `step ${step}`) */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/** Set an attribute unless it already has that value. @example setAttr(row, 'aria-pressed', 'true') */
export function setAttr(element, name, value) {
  if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

/**
 * Set the inline style (a cssText string) unless this function last set the same one.
 * @example setStyle(bar, 'left:0%;width:42.000%')
 */
export function setStyle(element, cssText) {
  if (writtenStyles.get(element) === cssText) return;
  element.style.cssText = cssText;
  writtenStyles.set(element, cssText);
}

/**
 * The width (clientWidth) of `element` as last laid out, kept up to date by a ResizeObserver,
 * so that a render reads it without forcing a layout of what other views just changed.
 * Returns a function giving the width (measured on the spot the first time, or when it is 0);
 * `onChange(width)` runs when the laid-out width changes after that.
 * @example const width = watchWidth(panel, () => redraw()); drawChart(width());
 */
export function watchWidth(element, onChange = () => {}) {
  let known = 0; // the laid-out width, 0 until measured (or while hidden)
  let given = null; // the width last handed out
  const observed = typeof ResizeObserver === 'function';
  if (observed) {
    new ResizeObserver(() => {
      known = element.clientWidth;
      if (given !== null && known !== given) onChange(known);
    }).observe(element);
  }
  return () => {
    if (!known || !observed) known = element.clientWidth;
    given = known;
    return known;
  };
}

/**
 * Run `callback` once the browser has painted what the current task drew: for work that
 * is out of view at first (it must not hold back the first paint). In a hidden tab, where
 * frames stop, after 100 ms.
 * @example afterPaint(() => drawTheRatios());
 */
export function afterPaint(callback) {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    callback();
  };
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => setTimeout(run, 0));
  setTimeout(run, 100);
}

// A chain of setTimeout(0) is held back to 4 ms a link after a few links; a message is not.
let taskChannel = null;
const tasks = [];

/**
 * Run `callback` in a task of its own, after the events already waiting (input first):
 * for long work cut into slices that keep the page responsive.
 * @example nextTask(() => fillMoreRows());
 */
export function nextTask(callback) {
  if (typeof MessageChannel !== 'function' || typeof document === 'undefined') {
    setTimeout(callback, 0);
    return;
  }
  if (!taskChannel) {
    taskChannel = new MessageChannel();
    taskChannel.port1.onmessage = () => tasks.shift()();
  }
  tasks.push(callback);
  taskChannel.port2.postMessage(null);
}
