// Where each channel lies in a feature-map grid PNG, from the layout the feature_maps route
// returns (tb_netviz/summary/images.py feature_map_layout), as percentages of the image so
// that labels stay on their tiles however the image is scaled; and where the PNG has no
// channel at all (the 1-pixel gaps between tiles and the unused slots of the last row),
// which it paints black: the view covers those in the panel's colour, so that no separator
// reads as a dark channel value.

const KEYS = ['channels', 'total_channels', 'columns', 'rows', 'tile_height', 'tile_width', 'pad'];

/**
 * The tiles of a grid image of naturalWidth x naturalHeight pixels, or null when the layout is
 * missing, malformed, or does not describe an image of that size (then no label would be true).
 * @example tilePositions({channels: 2, total_channels: 2, columns: 2, rows: 1, tile_height: 2,
 *   tile_width: 2, pad: 1}, 5, 2)
 * // [{channel: 0, left: 0, top: 0, width: 40, height: 100},
 *  //  {channel: 1, left: 60, top: 0, width: 40, height: 100}]
 */
export function tilePositions(layout, naturalWidth, naturalHeight) {
  if (!layout || typeof layout !== 'object') return null;
  if (!KEYS.every((k) => Number.isInteger(layout[k]) && layout[k] >= 0)) return null;
  const { channels, columns, rows, tile_height: th, tile_width: tw, pad } = layout;
  if (channels < 1 || columns < 1 || rows < 1 || columns * rows < channels) return null;
  if (columns * (tw + pad) - pad !== naturalWidth || rows * (th + pad) - pad !== naturalHeight) return null;
  const tiles = [];
  for (let channel = 0; channel < channels; channel++) {
    const row = Math.floor(channel / columns);
    const col = channel % columns;
    tiles.push({
      channel,
      left: (100 * col * (tw + pad)) / naturalWidth,
      top: (100 * row * (th + pad)) / naturalHeight,
      width: (100 * tw) / naturalWidth,
      height: (100 * th) / naturalHeight,
    });
  }
  return tiles;
}

/**
 * A sentence saying which channels a grid shows.
 * @example channelsCaption({channels: 16, total_channels: 64}) // 'channels 0–15 of 64'
 */
export function channelsCaption(layout) {
  const shown = layout.channels;
  const total = layout.total_channels;
  const range = shown === 1 ? 'channel 0' : `channels 0–${shown - 1}`;
  return total > shown ? `${range} of ${total}` : `${range} (all)`;
}

/**
 * The parts of a grid image that show no channel, as percentages of the image: the gap
 * between each two columns and each two rows, and every unused slot after the last channel.
 * [] when the layout does not describe the image (as tilePositions).
 * @example gapRects({channels: 1, total_channels: 1, columns: 2, rows: 1, tile_height: 2,
 *   tile_width: 2, pad: 1}, 5, 2)
 * // [{left: 40, top: 0, width: 20, height: 100}, {left: 60, top: 0, width: 40, height: 100}]
 */
export function gapRects(layout, naturalWidth, naturalHeight) {
  const tiles = tilePositions(layout, naturalWidth, naturalHeight);
  if (!tiles) return [];
  const { channels, columns, rows, tile_height: th, tile_width: tw, pad } = layout;
  const x = (px) => (100 * px) / naturalWidth;
  const y = (px) => (100 * px) / naturalHeight;
  const gaps = [];
  if (pad > 0) {
    for (let c = 1; c < columns; c++)
      gaps.push({ left: x(c * (tw + pad) - pad), top: 0, width: x(pad), height: 100 });
    for (let r = 1; r < rows; r++)
      gaps.push({ left: 0, top: y(r * (th + pad) - pad), width: 100, height: y(pad) });
  }
  for (let slot = channels; slot < columns * rows; slot++) {
    const r = Math.floor(slot / columns);
    const c = slot % columns;
    gaps.push({ left: x(c * (tw + pad)), top: y(r * (th + pad)), width: x(tw), height: y(th) });
  }
  return gaps;
}
