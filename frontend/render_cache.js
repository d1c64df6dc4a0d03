// What the views keep between renders so that a step change or a zoom back redraws from
// what was already built instead of rebuilding it. Pure: no DOM, testable in node.

/**
 * A cache of at most `capacity` entries that forgets the least recently used one first.
 * @example const cache = lruCache(2); cache.get('a', () => 1); cache.get('a', () => 2) // 1
 */
export function lruCache(capacity) {
  if (!(capacity >= 1)) throw new RangeError(`an LRU cache holds at least 1 entry, not ${capacity}`);
  const entries = new Map();
  return {
    /** The entry of `key`, built with `build()` (and kept) when it is not held. */
    get(key, build) {
      if (entries.has(key)) {
        const value = entries.get(key);
        entries.delete(key);
        entries.set(key, value);
        return value;
      }
      const value = build();
      entries.set(key, value);
      while (entries.size > capacity) entries.delete(entries.keys().next().value);
      return value;
    },
    has: (key) => entries.has(key),
    clear: () => entries.clear(),
    get size() {
      return entries.size;
    },
  };
}

const ids = new WeakMap();
let lastId = 0;

/**
 * A number naming one object (a decoded table) for cache keys: the same object always
 * gets the same number, a new object (a refreshed or appended table) a new one.
 * @example objectId(table) === objectId(table) && objectId(table) !== objectId({ ...table })
 */
export function objectId(object) {
  if (!ids.has(object)) ids.set(object, ++lastId);
  return ids.get(object);
}

/**
 * The key of a heatmap image: everything its pixels depend on — the table (object and
 * version), the statistic, the log scale, the colour range, the layers shown (the filter),
 * the zoomed step indices and the theme. The selected step and layer are not in it: they
 * are drawn over the image.
 * @example heatmapKey({ table, version: 3, stat: 'grad_l2', log: true, visible: [0, 1], zoom: [10, 60] })
 */
export function heatmapKey(inputs) {
  const { table, version = 0, stat, log, range = 'robust', visible, zoom = null, theme = '' } = inputs;
  return [
    table ? objectId(table) : 'none',
    version,
    stat,
    log,
    range,
    zoom ? zoom.join('-') : 'all',
    theme,
    visible.join(','),
  ].join('|');
}

/**
 * What `build(inputs)` makes of a heatmap's inputs (see heatmapKey), kept for the last
 * `capacity` distinct inputs: the same inputs give the same built object without building
 * again; any change of what the pixels depend on builds anew.
 * @example const image = heatmapCache(3, (inputs) => paint(inputs)); image(inputs) === image({ ...inputs })
 */
export function heatmapCache(capacity, build) {
  const cache = lruCache(capacity);
  return (inputs) => cache.get(heatmapKey(inputs), () => build(inputs));
}
