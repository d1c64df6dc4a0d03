// Specifications of frontend/feature_map_tiles.js: channel labels placed on their grid tiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { channelsCaption, gapRects, tilePositions } from '../../frontend/feature_map_tiles.js';

const LAYOUT = { channels: 5, total_channels: 20, columns: 3, rows: 2, tile_height: 6, tile_width: 5, pad: 1 };

test('each channel is placed row by row at its tile, in percent of the image', () => {
  // 3 columns of 5 px with 1 px separators: 17 px wide; 2 rows of 6 px: 13 px high
  const tiles = tilePositions(LAYOUT, 17, 13);
  assert.deepEqual(
    tiles.map((t) => t.channel),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    tiles.map((t) => [Math.round((t.left * 17) / 100), Math.round((t.top * 13) / 100)]),
    [
      [0, 0],
      [6, 0],
      [12, 0],
      [0, 7],
      [6, 7],
    ],
  );
  assert.equal(Math.round((tiles[0].width * 17) / 100), 5);
  assert.equal(Math.round((tiles[0].height * 13) / 100), 6);
});

test('a layout that does not match the image size, or is missing or malformed, places no label', () => {
  assert.equal(tilePositions(LAYOUT, 18, 13), null);
  assert.equal(tilePositions(LAYOUT, 17, 12), null);
  assert.equal(tilePositions(null, 17, 13), null);
  assert.equal(tilePositions({ ...LAYOUT, columns: '3' }, 17, 13), null);
  assert.equal(tilePositions({ ...LAYOUT, channels: 7 }, 17, 13), null);
  assert.equal(tilePositions({ ...LAYOUT, channels: 0 }, 17, 13), null);
});

test('the caption says which channels are shown and of how many', () => {
  assert.equal(channelsCaption(LAYOUT), 'channels 0–4 of 20');
  assert.equal(channelsCaption({ channels: 8, total_channels: 8 }), 'channels 0–7 (all)');
  assert.equal(channelsCaption({ channels: 1, total_channels: 1 }), 'channel 0 (all)');
});

test('the gaps of a grid are the pads between its columns and rows and its unused slots', () => {
  // 8 channels of 12x12 in 3 columns x 3 rows, pad 1: a 38 x 38 image with one unused slot
  const layout = { channels: 8, total_channels: 8, columns: 3, rows: 3, tile_height: 12, tile_width: 12, pad: 1 };
  const gaps = gapRects(layout, 38, 38);
  const px = (g) => [g.left, g.top, g.width, g.height].map((v) => Math.round((v * 38) / 100));
  assert.deepEqual(gaps.map(px), [
    [12, 0, 1, 38],
    [25, 0, 1, 38],
    [0, 12, 38, 1],
    [0, 25, 38, 1],
    [26, 26, 12, 12],
  ]);
});

test('a layout that does not describe the image has no gaps to cover', () => {
  const layout = { channels: 2, total_channels: 2, columns: 2, rows: 1, tile_height: 2, tile_width: 2, pad: 1 };
  assert.deepEqual(gapRects(layout, 6, 2), []);
  assert.deepEqual(gapRects(null, 5, 2), []);
});
