"""The Grad-CAM format: class activation maps of the probe batch, one tag per layer.

Written at each sample step by both frameworks, so a user watches where the
network looks change as it trains:

- ``netviz/gradcam/<layer>`` (kind ``gradcam``): float32 ``[N, H, W]``, the raw,
  unnormalised maps ``ReLU(sum_c mean_hw(dy/dA_c) * A_c)`` of each probe sample,
  bilinearly upsampled to the input's ``H x W``. Raw values are comparable
  across samples, steps and layers of one run; the reader chooses the scale.
  Content: ``{"layer", "target", "input_size": [H, W]}``.
- ``netviz/gradcam_targets`` (kind ``gradcam_targets``): float32 ``[N, 2]``, per
  sample the class the maps explain and the model's probability of it
  (``TARGET_COLUMNS``). Content: ``{"columns", "target", "labels", "layers"}``
  with ``labels`` the true classes (``sample_labels``) or null. It is a tag of
  its own because the class and probability change from step to step, and
  TensorBoard keeps only a tag's first metadata. Written in the same event as
  the maps, so a step kept for one is kept for the other (TensorBoard's
  reservoirs are seeded alike per tag).
- ``netviz/probe_inputs`` (kind ``probe_inputs``): float32 ``[N, H, W, C]``
  (``C`` 1 or 3), each probe image scaled to 0..1 on its own, written once
  (at the first Grad-CAM step), for the dashboard's overlay.
- ``netviz/gradcam_overlay/<layer>``: a PNG grid in the Images tab, each probe
  image with its map overlaid in viridis, each map scaled to its own maximum.

``target`` is the ``gradcam_target`` option: ``"predicted"``, ``"label"`` or a class index.

Example:
    >>> import numpy as np
    >>> values = gradcam_values(
    ...     {"conv2": np.random.rand(2, 8, 8)}, np.array([3, 1]), np.array([0.9, 0.4]),
    ...     np.random.rand(2, 8, 8, 1), target="predicted", labels=np.array([3, 7]), with_inputs=True)
    >>> [value.tag for value in values]
    ['netviz/gradcam/conv2', 'netviz/gradcam_overlay/conv2', 'netviz/gradcam_targets', 'netviz/probe_inputs']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2

from tb_netviz.summary import encoders, metadata

GRADCAM, GRADCAM_TARGETS, PROBE_INPUTS = metadata.GRADCAM, metadata.GRADCAM_TARGETS, metadata.PROBE_INPUTS
# Class scores that already are probabilities (a softmax output) when rows sum to 1 within this.
PROBABILITY_TOLERANCE = 1e-3
GRADCAM_TAG_PREFIX = "netviz/gradcam/"
GRADCAM_OVERLAY_TAG_PREFIX = "netviz/gradcam_overlay/"
GRADCAM_TARGETS_TAG = "netviz/gradcam_targets"
PROBE_INPUTS_TAG = "netviz/probe_inputs"
TARGET_COLUMNS = ("class", "probability")
# The overlay PNG: each tile at least this many pixels high (small inputs such as
# 8 x 8 digits are enlarged by whole pixels), drawn at this map opacity.
OVERLAY_MIN_TILE = 64
OVERLAY_OPACITY = 0.5
# Viridis (van der Walt & Smith, CC0) at 0, 0.1, ..., 1: the dashboard's colour scale too.
VIRIDIS = np.array(
    [
        [68, 1, 84],
        [72, 36, 117],
        [65, 68, 135],
        [53, 95, 141],
        [42, 120, 142],
        [33, 145, 140],
        [34, 168, 132],
        [68, 191, 112],
        [122, 209, 81],
        [189, 223, 38],
        [253, 231, 37],
    ],
    dtype=np.float64,
)


class GradCamError(ValueError):
    """The model, its layers or the options cannot give Grad-CAM maps; the message says which."""


def gradcam_tag(layer: str) -> str:
    """The tag of one layer's Grad-CAM maps.

    >>> gradcam_tag("features.3")
    'netviz/gradcam/features.3'
    """
    return GRADCAM_TAG_PREFIX + _checked_layer(layer)


def gradcam_overlay_tag(layer: str) -> str:
    """The Images-tab tag of one layer's overlay grid.

    >>> gradcam_overlay_tag("features.3")
    'netviz/gradcam_overlay/features.3'
    """
    return GRADCAM_OVERLAY_TAG_PREFIX + _checked_layer(layer)


def check_target(target: Any) -> str | int:
    """``target`` if it is a valid ``gradcam_target``: ``"predicted"``, ``"label"`` or an int >= 0.

    >>> check_target("label"), check_target(3)
    ('label', 3)
    >>> check_target("true")
    Traceback (most recent call last):
    ...
    ValueError: gradcam_target must be 'predicted', 'label' or a class index >= 0, got 'true'
    """
    if isinstance(target, str) and target in ("predicted", "label"):
        return target
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and target >= 0:
        return int(target)
    raise ValueError(f"gradcam_target must be 'predicted', 'label' or a class index >= 0, got {target!r}")


def check_gradcam_inputs(options: Any, has_sample_batch: bool, labels: Any) -> None:
    """Raise ValueError when ``options`` ask for Grad-CAM maps the callback's inputs cannot give.

    >>> from tb_netviz.summary import CaptureOptions
    >>> check_gradcam_inputs(CaptureOptions(gradcam=True, gradcam_target="label"), True, None)
    Traceback (most recent call last):
    ...
    ValueError: gradcam_target='label' needs sample_labels (the true class of each sample)
    """
    if not options.gradcam:
        return
    if not has_sample_batch:
        raise ValueError("gradcam=True needs a sample_batch (the maps are of the probe images)")
    if options.gradcam_target == "label" and labels is None:
        raise ValueError("gradcam_target='label' needs sample_labels (the true class of each sample)")


def gradcam_values(
    maps: Mapping[str, np.ndarray],
    classes: np.ndarray,
    probabilities: np.ndarray,
    images: np.ndarray,
    *,
    target: str | int,
    labels: np.ndarray | None = None,
    with_inputs: bool = False,
) -> list[summary_pb2.Summary.Value]:
    """The summary values of one Grad-CAM step (see the module docstring); ``with_inputs`` adds
    ``netviz/probe_inputs``.

    Raises:
        ValueError: no maps, maps that are not ``[N, H, W]`` of the images' size, or
            classes / probabilities / labels / images that are not one per sample.
    """
    images = check_images(images)
    target = check_target(target)
    maps = {layer: encoders.float32_array(m, f"gradcam maps of {layer!r}") for layer, m in maps.items()}
    check_step(maps, classes, probabilities, images, labels)
    count, height, width = images.shape[:3]
    values = []
    for layer, layer_maps in maps.items():
        content = {"layer": layer, "target": target, "input_size": [height, width]}
        md = metadata.create_summary_metadata(GRADCAM, **content)
        values.append(encoders.float_tensor_value(gradcam_tag(layer), md, layer_maps))
        values.append(encoders.image_value(gradcam_overlay_tag(layer), overlay_grid(images, layer_maps)))
    values.append(_targets_value(classes, probabilities, target, labels, list(maps)))
    if with_inputs:
        md = metadata.create_summary_metadata(PROBE_INPUTS, layout="NHWC", scale="each image to 0..1")
        values.append(encoders.float_tensor_value(PROBE_INPUTS_TAG, md, images))
    return values


def check_step(
    maps: Mapping[str, np.ndarray], classes: Any, probabilities: Any, images: np.ndarray, labels: Any
) -> None:
    """Raise ValueError unless every map is ``[N, H, W]`` of the ``[N, H, W, C]`` images and there
    is one class, probability (and label, if given) per image.

    >>> check_step({"c": np.zeros((2, 3, 3))}, [0, 1], [0.5, 0.5], np.zeros((2, 4, 4, 1)), None)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: gradcam maps of 'c' must be [N, H, W] = [2, 4, 4] (one map per probe image, ...
    """
    count, height, width = images.shape[:3]
    if not maps:
        raise ValueError("gradcam needs the maps of at least one layer")
    for layer, layer_maps in maps.items():
        _checked_layer(layer)
        if np.shape(layer_maps) != (count, height, width):
            raise ValueError(
                f"gradcam maps of {layer!r} must be [N, H, W] = {[count, height, width]} "
                f"(one map per probe image, at its size), got {list(np.shape(layer_maps))}"
            )
    for what, values in (("class", classes), ("probability", probabilities), ("label", labels)):
        if values is not None and np.shape(values) != (count,):
            raise ValueError(
                f"gradcam needs one {what} per probe image ({count}), got shape {list(np.shape(values))}"
            )


def _targets_value(
    classes: Any, probabilities: Any, target: str | int, labels: Any, layers: list[str]
) -> summary_pb2.Summary.Value:
    table = np.stack([np.asarray(classes, np.float32), np.asarray(probabilities, np.float32)], axis=1)
    shown_labels = None if labels is None else [int(label) for label in labels]
    md = metadata.create_summary_metadata(
        GRADCAM_TARGETS, columns=list(TARGET_COLUMNS), target=target, labels=shown_labels, layers=layers
    )
    return encoders.float_tensor_value(GRADCAM_TARGETS_TAG, md, table)


def check_images(images: Any) -> np.ndarray:
    """Probe images as float32 ``[N, H, W, C]``, ``C`` 1 or 3, each scaled to 0..1 on its own.

    ``[N, H, W]`` is read as grey; other channel counts are averaged to grey.
    Non-finite pixels become 0.

    >>> check_images(np.array([[[0.0, 2.0]]])).tolist()
    [[[[0.0], [1.0]]]]
    """
    images = encoders.float32_array(images, "probe images")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"probe images must be [N, H, W] or [N, H, W, C], got shape {list(images.shape)}")
    if images.shape[-1] not in (1, 3):
        images = images.mean(axis=-1, keepdims=True)
    images = np.where(np.isfinite(images), images, 0.0)
    low = images.min(axis=(1, 2, 3), keepdims=True)
    span = images.max(axis=(1, 2, 3), keepdims=True) - low
    return ((images - low) / np.where(span > 0, span, 1.0)).astype(np.float32)


def overlay_grid(images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[rows, cols, 3]``: each 0..1 image with its map (scaled to its own max) over it.

    Tiles are laid out near-square with a one-pixel separator and enlarged by
    whole pixels to at least ``OVERLAY_MIN_TILE`` high.

    >>> overlay_grid(np.zeros((2, 4, 4, 1)), np.ones((2, 4, 4))).shape
    (64, 129, 3)
    """
    count, height, width = maps.shape
    colours = viridis(_each_to_its_max(maps))
    base = np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images
    tiles = (1 - OVERLAY_OPACITY) * base + OVERLAY_OPACITY * colours / 255.0
    zoom = max(1, math.ceil(OVERLAY_MIN_TILE / height))
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    tile_h, tile_w = height * zoom, width * zoom
    grid = np.zeros((rows * (tile_h + 1) - 1, cols * (tile_w + 1) - 1, 3), np.float64)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, cols)
        grid[r * (tile_h + 1) : r * (tile_h + 1) + tile_h, c * (tile_w + 1) : c * (tile_w + 1) + tile_w] = (
            tile
        )
    return np.clip(np.rint(grid * 255), 0, 255).astype(np.uint8)


def viridis(values: np.ndarray) -> np.ndarray:
    """RGB 0..255 (float) of ``values`` in 0..1 on the viridis scale.

    >>> viridis(np.array([0.0, 1.0])).tolist()
    [[68.0, 1.0, 84.0], [253.0, 231.0, 37.0]]
    """
    position = np.clip(values, 0, 1) * (len(VIRIDIS) - 1)
    low = np.minimum(np.floor(position).astype(int), len(VIRIDIS) - 2)
    fraction = (position - low)[..., None]
    return VIRIDIS[low] * (1 - fraction) + VIRIDIS[low + 1] * fraction


def _each_to_its_max(maps: np.ndarray) -> np.ndarray:
    maps = np.where(np.isfinite(maps), maps, 0.0)
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0)


def _checked_layer(layer: str) -> str:
    if not isinstance(layer, str) or not layer:
        raise TypeError(f"a layer name must be a non-empty str, got {layer!r}")
    return layer
