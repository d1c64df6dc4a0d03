"""Feature-map grids: grey per channel, constant channels mid-grey, NaN/Inf magenta, layout in the PNG."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from tb_netviz.summary.encoders import feature_maps_value
from tb_netviz.summary.images import (
    CONSTANT_GREY,
    LAYOUT_KEYWORD,
    NONFINITE_RGB,
    SEPARATOR_RGB,
    encode_png,
    feature_map_grid,
    feature_map_layout,
    read_png_text,
)
from tests.summary_format.png_decode import decode_png

MAGENTA = [0xE4, 0x00, 0x7C]  # frontend/colors.js SPECIAL_COLOURS.nonfinite, written out independently


def test_each_channel_spans_black_to_white_on_its_own_in_grey():
    maps = np.stack([np.arange(4.0).reshape(2, 2), 1000 + 10 * np.arange(4.0).reshape(2, 2)])
    grid = feature_map_grid(maps, max_channels=2)
    assert grid.shape == (2, 5, 3)
    left, right = grid[:, :2], grid[:, 3:]
    assert left.min() == right.min() == 0 and left.max() == right.max() == 255
    for tile in (left, right):
        assert (tile[..., 0] == tile[..., 1]).all() and (tile[..., 1] == tile[..., 2]).all()


def test_nan_and_inf_pixels_are_the_dashboards_magenta_and_raise_no_warning():
    maps = np.full((2, 3, 3), np.nan)
    maps[1] = np.arange(9.0).reshape(3, 3)
    maps[1, 0, 0] = np.inf
    maps[1, 0, 1] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the writer thread must not fail under -W error
        pixels = decode_png(encode_png(feature_map_grid(maps, max_channels=2)))
    assert list(NONFINITE_RGB) == MAGENTA
    assert (pixels[:, :3] == MAGENTA).all()
    second = pixels[:, 4:]
    assert second[0, 0].tolist() == MAGENTA and second[0, 1].tolist() == MAGENTA
    finite = second.reshape(-1, 3)[2:]
    assert finite[0].tolist() == [0, 0, 0] and finite[-1].tolist() == [255, 255, 255]


def test_a_dead_channel_is_mid_grey_and_never_the_nan_colour():
    maps = np.zeros((3, 2, 2))
    maps[1] = np.nan
    maps[2] = [[0.0, 1.0], [2.0, 3.0]]
    pixels = decode_png(encode_png(feature_map_grid(maps, max_channels=3)))
    dead, nan = pixels[:2, :2], pixels[:2, 3:5]
    assert CONSTANT_GREY == 128 and (dead == 128).all()
    assert (nan == MAGENTA).all()
    assert not (dead == MAGENTA).all(axis=-1).any()
    # a channel's own minimum is black, which is neither a dead channel nor NaN
    assert pixels[3, 0].tolist() == [0, 0, 0]


def test_no_grey_level_can_be_mistaken_for_magenta():
    ramp = np.linspace(-5, 5, 256).reshape(1, 16, 16)
    grid = feature_map_grid(ramp, max_channels=1).reshape(-1, 3)
    assert len({tuple(p) for p in grid}) == 256
    assert not (grid == MAGENTA).all(axis=-1).any()


def test_separators_and_unused_slots_are_a_colour_no_channel_value_can_have():
    grid = feature_map_grid(np.random.default_rng(2).normal(size=(3, 4, 4)))  # 2x2 grid, one slot unused
    separator, unused = grid[4, 0].tolist(), grid[7, 7].tolist()
    assert separator == unused == list(SEPARATOR_RGB)
    r, g, b = SEPARATOR_RGB
    assert len({r, g, b}) == 3 and list(SEPARATOR_RGB) != MAGENTA  # not a grey, not the NaN colour


@pytest.mark.parametrize(
    ("shape", "max_channels", "expected"),
    [
        ((20, 6, 5), 5, (5, 20, 3, 2, 6, 5)),
        ((3, 7), 16, (3, 3, 2, 2, 4, 7)),  # Conv1d: strips 4 pixels high
        ((9, 4, 3, 2), 16, (9, 9, 3, 3, 3, 2)),  # Conv3d: the middle depth slice
        ((1, 2, 2), 16, (1, 1, 1, 1, 2, 2)),
    ],
)
def test_the_layout_locates_every_channel_tile_in_the_grid(shape, max_channels, expected):
    rng = np.random.default_rng(1)
    maps = rng.normal(size=shape)
    layout = feature_map_layout(maps, max_channels)
    keys = ("channels", "total_channels", "columns", "rows", "tile_height", "tile_width")
    assert tuple(layout[k] for k in keys) == expected and layout["pad"] == 1
    grid = feature_map_grid(maps, max_channels)
    th, tw, pad = layout["tile_height"], layout["tile_width"], layout["pad"]
    assert grid.shape[:2] == (layout["rows"] * (th + pad) - pad, layout["columns"] * (tw + pad) - pad)
    for channel in range(layout["channels"]):
        row, col = divmod(channel, layout["columns"])
        top, left = row * (th + pad), col * (tw + pad)
        tile = grid[top : top + th, left : left + tw, 0]
        assert tile.min() == 0 and tile.max() == 255, channel  # each tile holds its own full range


def test_the_written_png_carries_its_layout_and_stays_a_valid_rgb_image():
    maps = np.random.default_rng(2).normal(size=(10, 5, 4)).astype(np.float32)
    value = feature_maps_value("conv1", maps, max_channels=6)
    width, height, png = value.tensor.string_val
    pixels = decode_png(png)
    assert pixels.shape == (int(height), int(width), 3)
    layout = json.loads(read_png_text(png)[LAYOUT_KEYWORD])
    assert layout == feature_map_layout(maps, 6)
    assert layout["channels"] == 6 and layout["total_channels"] == 10


def test_png_text_that_is_not_latin1_or_has_a_bad_keyword_is_refused():
    image = np.zeros((1, 1), np.uint8)
    with pytest.raises(ValueError, match="Latin-1"):
        encode_png(image, {"k": "€"})
    with pytest.raises(ValueError, match="keyword"):
        encode_png(image, {"": "v"})
