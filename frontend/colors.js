// Colour mapping: a viridis colour scale (perceptually uniform, readable with
// every common colour-vision deficiency and in grey) and the pixel painter of
// the heatmap. Pure: no DOM, testable in node.

// Viridis (van der Walt & Smith, CC0) sampled at 0, 0.1, ..., 1.
const VIRIDIS_STOPS = [
  '#440154',
  '#482475',
  '#414487',
  '#355f8d',
  '#2a788e',
  '#21918c',
  '#22a884',
  '#44bf70',
  '#7ad151',
  '#bddf26',
  '#fde725',
];

/**
 * Colours of the cells that have no place on the scale. NaN/Inf is a strong
 * magenta, a hue viridis never reaches (and far from it in lightness and hue for
 * the common colour-vision deficiencies), so a diverged run reads as diverged at
 * any cell size and on either theme's panel; no gradient is a neutral grey. The
 * views add a glyph (✕, ∅) wherever there is room, and the legend names each.
 */
export const SPECIAL_COLOURS = Object.freeze({
  none: '#9a9a9a', // no gradient reached the layer
  nonfinite: '#e4007c', // NaN or ±Infinity
  below: '#1c1c1c', // zero or negative on a log axis: below every decade
});

/**
 * '#rrggbb' -> [r, g, b].
 * @example hexToRgb('#ff0080') // [255, 0, 128]
 */
export function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/**
 * [r, g, b] -> '#rrggbb'.
 * @example rgbToHex([255, 0, 128]) === '#ff0080'
 */
export function rgbToHex([r, g, b]) {
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

/**
 * A 256-entry lookup table of the scale: Uint8Array of r, g, b triples.
 */
export function buildLut(stops = VIRIDIS_STOPS, size = 256) {
  const rgb = stops.map(hexToRgb);
  const lut = new Uint8Array(size * 3);
  for (let i = 0; i < size; i++) {
    const t = (i / (size - 1)) * (rgb.length - 1);
    const a = Math.min(rgb.length - 2, Math.floor(t));
    const f = t - a;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(rgb[a][c] * (1 - f) + rgb[a + 1][c] * f);
  }
  return lut;
}

/** The dashboard's colour scale. */
export const VIRIDIS = buildLut();

/**
 * The scale's colour at t in [0, 1] (clamped) as '#rrggbb'.
 * @example colourAt(0) === '#440154'
 */
export function colourAt(t, lut = VIRIDIS) {
  const size = lut.length / 3;
  const i = Math.round(Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (size - 1));
  return rgbToHex([lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]]);
}

/**
 * CIE L* (perceived lightness, 0..100) of an sRGB colour: used by the tests to
 * check that the scale is monotonic in lightness, and by the views to pick a
 * readable text colour over a cell.
 */
export function lightness([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  };
  const y = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  return y > 216 / 24389 ? 116 * Math.cbrt(y) - 16 : (24389 / 27) * y;
}

// ImageData is RGBA bytes; writing one 32-bit word per pixel is several times
// faster than four byte writes. The word's byte order follows the platform.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function packRgba(r, g, b) {
  return LITTLE_ENDIAN
    ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0
    : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
}

/**
 * Paint a heatmap (from shape.buildHeatmap) into RGBA pixels, one pixel per
 * cell, row-major: the buffer for one putImageData of cols x rows.
 *
 * `domain` overrides [min, max] of the colour axis; `knee` ({value, at}) bends it: lo..value
 * takes the scale's first `at` (0..1), value..hi the rest (range.js colourPosition);
 * `rowDomains` (lo, hi of each row in turn) gives every row its own axis instead. Values
 * beyond the axis take its end colours. Returns Uint8ClampedArray.
 */
export function heatmapPixels(
  heatmap,
  { lut = VIRIDIS, domain = null, knee = null, rowDomains = null, out = null } = {},
) {
  const { rows, cols, scaled, kinds } = heatmap;
  const n = rows * cols;
  const pixels = out && out.length === n * 4 ? out : new Uint8ClampedArray(n * 4);
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, n);
  const size = lut.length / 3;
  const palette = new Uint32Array(size);
  for (let i = 0; i < size; i++) palette[i] = packRgba(lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]);
  const special = [0, SPECIAL_COLOURS.none, SPECIAL_COLOURS.nonfinite, SPECIAL_COLOURS.below].map((hex) =>
    hex ? packRgba(...hexToRgb(hex)) : 0,
  );
  let [lo, hi] = domain || [heatmap.min, heatmap.max];
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  const top = size - 1;
  if (rowDomains) {
    paintRows(heatmap, rowDomains, words, palette, special);
    return pixels;
  }
  // Without a knee the upper part is empty: values never exceed +Infinity.
  const bend = knee && knee.value > lo && knee.value < hi ? knee.value : Infinity;
  const bendIndex = bend === Infinity ? top : knee.at * top;
  const lowEnd = bend === Infinity ? hi : bend;
  const scale = bendIndex / (lowEnd > lo ? lowEnd - lo : 1);
  const upperScale = bend === Infinity ? 0 : (top - bendIndex) / (hi - bend);
  for (let p = 0; p < n; p++) {
    const kind = kinds[p];
    if (kind !== 0) {
      words[p] = special[kind];
      continue;
    }
    const v = scaled[p];
    let i = (v > bend ? (v - bend) * upperScale + bendIndex + 0.5 : (v - lo) * scale + 0.5) | 0;
    if (i < 0) i = 0;
    else if (i > top) i = top;
    words[p] = palette[i];
  }
  return pixels;
}

function paintRows({ rows, cols, scaled, kinds }, rowDomains, words, palette, special) {
  const top = palette.length - 1;
  for (let r = 0; r < rows; r++) {
    const lo = rowDomains[2 * r];
    const hi = rowDomains[2 * r + 1];
    const scale = hi > lo ? top / (hi - lo) : 0;
    // A constant row sits in the middle of the scale.
    const flat = hi > lo ? -1 : top >> 1;
    for (let p = r * cols, end = p + cols; p < end; p++) {
      const kind = kinds[p];
      if (kind !== 0) {
        words[p] = special[kind];
        continue;
      }
      let i = flat >= 0 ? flat : ((scaled[p] - lo) * scale + 0.5) | 0;
      if (i < 0) i = 0;
      else if (i > top) i = top;
      words[p] = palette[i];
    }
  }
}

/**
 * Paint a dense matrix of values (attention) into RGBA pixels over [lo, hi].
 */
export function matrixPixels(values, [lo, hi], lut = VIRIDIS) {
  const kinds = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) kinds[i] = 2;
  return heatmapPixels({ rows: 1, cols: values.length, scaled: values, kinds, min: lo, max: hi }, { lut });
}
