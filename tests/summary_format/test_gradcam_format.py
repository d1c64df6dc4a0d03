"""The Grad-CAM format: raw maps per layer, targets beside them, probe images once, overlay PNGs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tb_netviz.summary import NetVizWriter, metadata
from tb_netviz.summary.gradcam import (
    GRADCAM_TARGETS_TAG,
    PROBE_INPUTS_TAG,
    TARGET_COLUMNS,
    check_images,
    gradcam_overlay_tag,
    gradcam_tag,
    gradcam_values,
)
from tests.summary_format.event_records import summary_events
from tests.summary_format.png_decode import decode_png

VIRIDIS_ENDS = {"low": (68, 1, 84), "high": (253, 231, 37)}


def _tensor(value) -> np.ndarray:
    shape = [d.size for d in value.tensor.tensor_shape.dim]
    return np.frombuffer(value.tensor.tensor_content, "<f4").reshape(shape)


def _content(value) -> dict:
    return json.loads(value.metadata.plugin_data.content)


def test_maps_are_stored_raw_with_their_targets_and_the_true_labels():
    maps = np.array([[[0.0, 3.5], [1e-6, 40.0]]], np.float32)
    values = gradcam_values(
        {"features.3": maps}, [7], [0.25], np.ones((1, 2, 2, 1)), target="label", labels=np.array([7])
    )
    by_tag = {value.tag: value for value in values}
    assert by_tag[gradcam_tag("features.3")].metadata.data_class == metadata.summary_pb2.DATA_CLASS_TENSOR
    np.testing.assert_array_equal(_tensor(by_tag[gradcam_tag("features.3")]), maps)  # not normalised
    assert _content(by_tag[gradcam_tag("features.3")]) == {
        "version": 1,
        "kind": "gradcam",
        "layer": "features.3",
        "target": "label",
        "input_size": [2, 2],
    }
    np.testing.assert_array_equal(_tensor(by_tag[GRADCAM_TARGETS_TAG]), [[7.0, 0.25]])
    assert _content(by_tag[GRADCAM_TARGETS_TAG]) == {
        "version": 1,
        "kind": "gradcam_targets",
        "columns": list(TARGET_COLUMNS),
        "target": "label",
        "labels": [7],
        "layers": ["features.3"],
    }
    assert PROBE_INPUTS_TAG not in by_tag


def test_overlay_png_blends_each_image_with_its_map_scaled_to_its_own_maximum():
    images = np.zeros((2, 2, 2, 1), np.float32)
    images[:, 0, 0] = 1.0  # one white pixel per image
    maps = np.array([[[0, 0], [0, 2]], [[0, 0], [0, 100]]], np.float32)
    values = gradcam_values({"c": maps}, [0, 1], [0.5, 0.5], images, target="predicted")
    overlay = next(v for v in values if v.tag == gradcam_overlay_tag("c"))
    assert overlay.metadata.plugin_data.plugin_name == "images"
    pixels = decode_png(overlay.tensor.string_val[2])
    zoom = 32  # 2-pixel tiles are enlarged to at least 64 pixels
    assert pixels.shape == (2 * zoom, 2 * 2 * zoom + 1, 3)
    for tile in (0, 1):  # the same picture: each map is scaled to its own maximum
        left = tile * (2 * zoom + 1)
        white_low = pixels[0, left]
        black_high = pixels[-1, left + 2 * zoom - 1]
        expected_white = [round(0.5 * 255 + 0.5 * c) for c in VIRIDIS_ENDS["low"]]
        assert white_low.tolist() == expected_white
        assert black_high.tolist() == [round(0.5 * c) for c in VIRIDIS_ENDS["high"]]
    assert (pixels[:, 2 * zoom] == 0).all()  # the separator


def test_probe_images_are_scaled_to_0_1_each_and_grey_when_not_one_or_three_channels():
    images = np.stack([np.full((2, 2, 2), 5.0), np.arange(8.0).reshape(2, 2, 2)])
    checked = check_images(images)
    assert checked.shape == (2, 2, 2, 1)
    assert checked[0].max() == 0.0  # a constant image is black, not a division by zero
    assert checked[1].min() == 0.0 and checked[1].max() == 1.0


def test_writer_writes_the_probe_images_with_the_first_step_only(tmp_path):
    with NetVizWriter(tmp_path) as writer:
        for step in (0, 10):
            writer.gradcam(
                step, {"c": np.ones((2, 3, 3))}, [1, 2], [0.5, 0.7], np.random.rand(2, 3, 3, 3), target=2
            )
    tags = [(event.step, value.tag) for event in summary_events(tmp_path) for value in event.summary.value]
    assert tags.count((0, PROBE_INPUTS_TAG)) == 1 and (10, PROBE_INPUTS_TAG) not in tags
    for step in (0, 10):
        assert {
            (step, gradcam_tag("c")),
            (step, gradcam_overlay_tag("c")),
            (step, GRADCAM_TARGETS_TAG),
        } <= set(tags)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (dict(maps={"c": np.ones((2, 3, 4))}), r"gradcam maps of 'c' must be \[N, H, W\] = \[2, 3, 3\]"),
        (dict(classes=[1]), r"one class per probe image \(2\), got shape \[1\]"),
        (dict(probabilities=[0.1, 0.2, 0.3]), r"one probability per probe image \(2\)"),
        (dict(labels=np.array([1, 2, 3])), r"one label per probe image \(2\)"),
        (dict(maps={}), "at least one layer"),
        (dict(images=np.ones((2, 3))), r"probe images must be \[N, H, W\] or \[N, H, W, C\]"),
        (dict(target="best"), "gradcam_target must be 'predicted', 'label' or a class index"),
        (dict(maps={"": np.ones((2, 3, 3))}), "a layer name must be a non-empty str"),
    ],
)
def test_bad_input_is_refused_on_the_calling_thread_naming_the_problem(tmp_path, call, message):
    arguments = dict(
        maps={"c": np.ones((2, 3, 3))},
        classes=[1, 2],
        probabilities=[0.5, 0.5],
        images=np.ones((2, 3, 3)),
        target="predicted",
        labels=None,
    )
    arguments.update(call)
    with NetVizWriter(tmp_path) as writer:
        with pytest.raises((ValueError, TypeError), match=message):
            writer.gradcam(
                0,
                arguments["maps"],
                arguments["classes"],
                arguments["probabilities"],
                arguments["images"],
                target=arguments["target"],
                labels=arguments["labels"],
            )
        assert writer.dropped == 0
