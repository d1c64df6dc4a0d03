// Where each channel lies in a feature-map grid PNG, from the layout the feature_maps route
// returns (tb_netviz/summary/images.py feature_map_layout), as percentages of the image so
// that labels stay on their tiles however the image is scaled.

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
