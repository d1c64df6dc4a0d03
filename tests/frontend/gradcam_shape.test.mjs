// Specifications of the Grad-CAM view's data shaping (frontend/gradcam_shape.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { VIRIDIS } from '../../frontend/colors.js';
import {
  decodeImages,
  decodeMaps,
  overlayPixels,
  sampleCaption,
  scaleMax,
  targetText,
} from '../../frontend/gradcam_shape.js';

const ANSWER = {
  step: 100,
  samples: 2,
  height: 1,
  width: 3,
  values: [[[0, 0.5, 'NaN']], [[2, 'Infinity', 1]]],
  classes: [3, 1],
  probabilities: [0.9123, 0.25],
  labels: [3, 0],
  max: 2,
  run_max: 8,
};

test('maps decode to one flat array per sample with non-finite values as zero', () => {
  const decoded = decodeMaps(ANSWER);
  assert.deepEqual(Array.from(decoded.maps[0]), [0, 0.5, 0]);
  assert.deepEqual(Array.from(decoded.maps[1]), [2, 0, 1]);
  assert.equal(decoded.runMax, 8);
  assert.equal(decoded.stepMax, 2);
  assert.deepEqual(decoded.classes, [3, 1]);
});

test('a step without its targets has null classes and probabilities', () => {
  const decoded = decodeMaps({ ...ANSWER, classes: null, probabilities: null, labels: null });
  assert.equal(decoded.classes, null);
  assert.equal(sampleCaption(decoded, 0, 'predicted').explains, 'class not kept at this step');
});

test('the fixed scale is the run maximum and the per-image scale each image its own maximum', () => {
  const decoded = decodeMaps(ANSWER);
  assert.equal(scaleMax(decoded, 'fixed', 0), 8);
  assert.equal(scaleMax(decoded, 'image', 0), 0.5);
  assert.equal(scaleMax(decoded, 'image', 1), 2);
  assert.equal(scaleMax(decodeMaps({ ...ANSWER, values: [[[0, 0, 0]], [[0, 0, 0]]] }), 'image', 0), 1);
  assert.equal(scaleMax({ ...decoded, runMax: null }, 'fixed', 0), 1);
});

test('overlay blends the image under the viridis colour of the map at the chosen opacity', () => {
  const images = decodeImages({ samples: 1, height: 1, width: 2, channels: 1, values: [[[[1], [0]]]] });
  const top = [VIRIDIS[765], VIRIDIS[766], VIRIDIS[767]];
  const bottom = [VIRIDIS[0], VIRIDIS[1], VIRIDIS[2]];
  const half = overlayPixels(images, Float32Array.of(0, 4), 4, 0.5, 0);
  assert.deepEqual(Array.from(half.slice(0, 4)), [...bottom.map((c) => Math.round(127.5 + c / 2)), 255]);
  assert.deepEqual(Array.from(half.slice(4, 8)), [...top.map((c) => Math.round(c / 2)), 255]);
  const none = overlayPixels(images, Float32Array.of(0, 4), 4, 0, 0);
  assert.deepEqual(Array.from(none), [255, 255, 255, 255, 0, 0, 0, 255]);
  const full = overlayPixels(images, Float32Array.of(0, 4), 4, 1, 0);
  assert.deepEqual(Array.from(full), [...bottom, 255, ...top, 255]);
});

test('an RGB image keeps its colours under the overlay', () => {
  const images = decodeImages({ samples: 1, height: 1, width: 1, channels: 3, values: [[[[1, 0, 0.5]]]] });
  assert.deepEqual(Array.from(overlayPixels(images, Float32Array.of(0), 1, 0, 0)), [255, 0, 128, 255]);
});

test('without probe images (or of another size) the map is drawn alone, values above the scale clamp', () => {
  const images = decodeImages({ samples: 1, height: 1, width: 1, channels: 1, values: [[[[1]]]] });
  const alone = overlayPixels(images, Float32Array.of(0, 9), 4, 0.3, 0);
  assert.deepEqual(Array.from(alone.slice(4, 7)), [VIRIDIS[765], VIRIDIS[766], VIRIDIS[767]]);
  assert.deepEqual(Array.from(overlayPixels(null, Float32Array.of(0), 1, 0.3, 0).slice(0, 3)), [68, 1, 84]);
});

test('captions say the class explained, its probability and the true label as text', () => {
  const decoded = decodeMaps(ANSWER);
  assert.deepEqual(sampleCaption(decoded, 0, 'predicted'), {
    explains: 'explains class 3 (p = 0.912)',
    truth: 'true class 3 · predicted 3 ✓',
    correct: true,
  });
  assert.equal(sampleCaption(decoded, 1, 'predicted').truth, 'true class 0 · predicted 1 ✗');
  assert.deepEqual(sampleCaption(decoded, 1, 'label'), {
    explains: 'explains class 1 (p = 0.25)',
    truth: 'true class 0',
    correct: null,
  });
  assert.equal(sampleCaption({ ...decoded, labels: null }, 0, 'predicted').truth, 'no true label given');
  assert.equal(targetText('label'), 'each map explains the sample’s true class');
  assert.equal(targetText(4), 'every map explains class 4');
});
