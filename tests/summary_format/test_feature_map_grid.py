"""Feature-map grids: each channel normalised on its own, non-finite entries drawn black."""

from __future__ import annotations

import warnings

import numpy as np

from tb_netviz.summary.images import feature_map_grid


def test_each_channel_spans_black_to_white_on_its_own():
    maps = np.stack([np.arange(4.0).reshape(2, 2), 1000 + 10 * np.arange(4.0).reshape(2, 2)])
    grid = feature_map_grid(maps, max_channels=2)
    left, right = grid[:, :2], grid[:, 3:]
    assert left.min() == right.min() == 0 and left.max() == right.max() == 255


def test_a_channel_that_is_all_nan_is_black_and_raises_no_warning():
    maps = np.full((2, 3, 3), np.nan)
    maps[1] = np.arange(9.0).reshape(3, 3)
    maps[1, 0, 0] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the writer thread must not fail under -W error
        grid = feature_map_grid(maps, max_channels=2)
    assert (grid[:, :3] == 0).all()
    second = grid[:, 4:]
    assert second[0, 0] == 0 and second.max() == 255


def test_a_constant_channel_is_mid_grey():
    grid = feature_map_grid(np.full((1, 2, 2), 7.0), max_channels=1)
    assert (grid == 128).all()
