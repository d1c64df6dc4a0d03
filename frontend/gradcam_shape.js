// Pure shaping of Grad-CAM data (the `gradcam` and `probe_inputs` routes) for the
// Grad-CAM view: decoding, the colour scale, the overlay pixels and the captions.
// No DOM: tested with node (tests/frontend/gradcam_shape.test.mjs).

import { VIRIDIS } from './colors.js';
import { decodeNumber } from './shape.js';

/** The scales a user can choose: one across every kept step of the run, or each image its own. */
export const SCALES = Object.freeze({ fixed: 'fixed across steps', image: 'each image on its own' });

/**
 * Decode a `gradcam?step=` answer: flat maps, one Float32Array of H*W per sample (non-finite -> 0).
 * @example decodeMaps({samples: 1, height: 1, width: 2, values: [[[1, 'NaN']]], classes: [3],
 *   probabilities: [0.5], labels: null, max: 1, run_max: 2, step: 5}).maps[0] // Float32Array [1, 0]
 */
export function decodeMaps(answer) {
  const { samples, height, width } = answer;
  const maps = [];
  for (let n = 0; n < samples; n++) {
    const flat = new Float32Array(height * width);
    const rows = answer.values[n];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = decodeNumber(rows[y][x]);
        flat[y * width + x] = Number.isFinite(v) ? v : 0;
      }
    }
    maps.push(flat);
  }
  return {
    step: answer.step,
    samples,
    height,
    width,
    maps,
    classes: Array.isArray(answer.classes) ? answer.classes : null,
    probabilities: Array.isArray(answer.probabilities) ? answer.probabilities.map(decodeNumber) : null,
    labels: Array.isArray(answer.labels) ? answer.labels : null,
    stepMax: finiteOrNull(answer.max),
    runMax: finiteOrNull(answer.run_max),
  };
}

/**
 * Decode a `probe_inputs` answer: one Float32Array of H*W*C (0..1) per image.
 * @example decodeImages({samples: 1, height: 1, width: 1, channels: 1, values: [[[[0.5]]]]}).images[0][0] // 0.5
 */
export function decodeImages(answer) {
  const { samples, height, width, channels } = answer;
  const images = [];
  for (let n = 0; n < samples; n++) {
    const flat = new Float32Array(height * width * channels);
    let i = 0;
    for (const row of answer.values[n]) {
      for (const pixel of row) for (const c of pixel) flat[i++] = Number.isFinite(decodeNumber(c)) ? c : 0;
    }
    images.push(flat);
  }
  return { samples, height, width, channels, images };
}

/**
 * The top of the colour scale for sample `n`: the run's largest value (fixed across
 * steps, so maps of different steps compare) or the image's own largest value.
 * 0 maps to the bottom. A scale with nothing above 0 is [0, 1] (the map is all bottom colour).
 * @example scaleMax({runMax: 4, maps: [Float32Array.of(1, 2)]}, 'image', 0) === 2
 */
export function scaleMax(decoded, scale, n) {
  let top = scale === 'fixed' ? decoded.runMax : null;
  if (scale !== 'fixed') {
    top = 0;
    for (const v of decoded.maps[n]) if (v > top) top = v;
  }
  return top && top > 0 ? top : 1;
}

/**
 * RGBA pixels (Uint8ClampedArray, H*W*4) of image `n` with its map over it at `opacity` (0..1),
 * the map coloured on the viridis scale over [0, top]. A grey image is drawn grey; where the
 * images are missing (or of another size) the map is drawn alone.
 * @example overlayPixels(null, Float32Array.of(0, 2), 2, 1, 1)  // [68,1,84,255, 253,231,37,255]
 */
export function overlayPixels(images, map, top, opacity, n, lut = VIRIDIS) {
  const count = map.length;
  const pixels = new Uint8ClampedArray(count * 4);
  const channels = images ? images.channels : 0;
  const base = images && images.images[n] && images.images[n].length === count * channels ? images.images[n] : null;
  const alpha = base ? Math.min(1, Math.max(0, opacity)) : 1;
  const size = lut.length / 3;
  for (let p = 0; p < count; p++) {
    const t = Math.min(1, Math.max(0, map[p] / top));
    const i = Math.round(t * (size - 1)) * 3;
    for (let c = 0; c < 3; c++) {
      const under = base ? base[p * channels + (channels === 3 ? c : 0)] * 255 : 0;
      pixels[p * 4 + c] = Math.round((1 - alpha) * under + alpha * lut[i + c]);
    }
    pixels[p * 4 + 3] = 255;
  }
  return pixels;
}

/**
 * The caption of sample `n` as plain strings (inserted as text): the class its map explains
 * with the model's probability, and the true label with whether the prediction matches it.
 * @example sampleCaption({classes: [3], probabilities: [0.912], labels: [5]}, 0, 'predicted')
 *   // {explains: 'explains class 3 (p = 0.912)', truth: 'true class 5 · predicted 3 ✗', correct: false}
 */
export function sampleCaption(decoded, n, target) {
  const cls = decoded.classes ? decoded.classes[n] : null;
  const p = decoded.probabilities ? decoded.probabilities[n] : null;
  const explains =
    cls === null
      ? 'class not kept at this step'
      : `explains class ${cls}${Number.isFinite(p) ? ` (p = ${Number(p.toPrecision(3))})` : ''}`;
  const label = decoded.labels ? decoded.labels[n] : null;
  if (label === null || label === undefined) return { explains, truth: 'no true label given', correct: null };
  if (target !== 'predicted' || cls === null) return { explains, truth: `true class ${label}`, correct: null };
  const correct = cls === label;
  return { explains, truth: `true class ${label} · predicted ${cls} ${correct ? '✓' : '✗'}`, correct };
}

/**
 * What the `gradcam_target` option means, for the panel's note.
 * @example targetText(7) === 'every map explains class 7'
 */
export function targetText(target) {
  if (target === 'label') return 'each map explains the sample’s true class';
  if (target === 'predicted') return 'each map explains the class the model predicts';
  return `every map explains class ${target}`;
}

function finiteOrNull(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
