"""Everything NetVizWriter writes comes back value for value through TensorBoard's own loaders.

One run is written with every kind of summary, then read through the Python
multiplexer (``--load_fast=false``) and through the Rust data server (the
default loader) with the same assertions.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import summary_pb2

from tb_netviz import summary
from tb_netviz.summary.images import feature_map_grid
from tests.summary_format.png_decode import decode_png
from tests.summary_format.tb_readers import python_provider, read_run, rust_provider, wait_until

RUN = "run"
LAYERS = ["features.0", "features.3", "classifier"]
SELF_ATTN = "encoder.layers.0.self_attn"
CROSS_ATTN = "decoder.layers.0.cross_attn"
CONV = "features.0"
HISTOGRAM_TAG = "netviz/histograms/classifier"
GRAD_STEPS = range(6)
SAMPLE_STEPS = (0, 3)
NORMS = [3.5, math.nan, math.inf, -math.inf, 1e-30, 0.0]
TOKENS = ["The", "cat", "<sat>", "&amp;"]
QUERY_TOKENS = ["le", "chat", "assis"]
KEY_TOKENS = ["the", "cat", "sat", "down", "."]


def gradient_table(step: int) -> np.ndarray:
    """Layer 0 finite, layer 1 non-finite except at step 4, layer 2 without gradient."""
    rng = np.random.default_rng(step)
    finite = rng.random(len(summary.GRADIENT_STATS)).astype(np.float32)
    finite[summary.GRADIENT_STATS.index("grad_nonfinite")] = 0
    finite[summary.GRADIENT_STATS.index("has_grad")] = 1
    finite[summary.GRADIENT_STATS.index("grad_mean_abs")] = -0.0
    finite[summary.GRADIENT_STATS.index("param_l2")] = np.float32(1e-45)  # subnormal
    broken = np.array([np.inf, np.nan, np.inf, 2.0, np.nan, 5.0, 1.0], np.float32)
    if step == 4:
        broken = finite * 2
    missing = np.array(summary.describe_missing_gradient(), np.float32)
    missing[summary.GRADIENT_STATS.index("param_l2")] = 0.25
    return np.stack([finite, broken, missing])


def activation_table(step: int) -> np.ndarray:
    table = np.random.default_rng(100 + step).random((len(LAYERS), len(summary.ACTIVATION_STATS)))
    table[2, 0] = np.nan
    return table.astype(np.float32)


def attention(shape: tuple[int, ...], seed: int) -> np.ndarray:
    weights = np.random.default_rng(seed).random(shape).astype(np.float32)
    weights[0, 0, 0] = np.nan
    weights[-1, -1, -1] = np.inf
    return weights


def feature_maps(step: int) -> np.ndarray:
    maps = np.random.default_rng(200 + step).normal(size=(6, 5, 7)).astype(np.float32)
    maps[1] = 3.0  # a constant channel is drawn mid-grey
    maps[2, 0, 0] = np.nan
    return maps


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Write one run with every netviz summary; return its log dir and what was written."""
    logdir = tmp_path_factory.mktemp("round_trip")
    expected = {"tensors": {}, "content": {}, "plugin": {}, "alerts": [], "scalars": {}, "images": {}}
    tensors = expected["tensors"]
    detector = summary.AlertDetector(summary.AlertThresholds(patience=1), warn=False)
    with summary.NetVizWriter(logdir / RUN) as writer:
        for step in GRAD_STEPS:
            table = gradient_table(step)
            assert writer.gradient_flow(step, LAYERS, table, model="toy")
            tensors.setdefault(summary.GRADIENT_FLOW_TAG, []).append((step, table))
            assert writer.scalar(step, summary.GLOBAL_GRAD_NORM_TAG, NORMS[step])
            expected["scalars"].setdefault(summary.GLOBAL_GRAD_NORM_TAG, []).append((step, NORMS[step]))
            if detector.check_gradients(step, LAYERS, table):
                assert writer.alerts(step, detector.history)
                expected["alerts"].append((step, json.loads(json.dumps(detector.history))))
        for step in SAMPLE_STEPS:
            table = activation_table(step)
            writer.activations(step, LAYERS, table)
            tensors.setdefault(summary.ACTIVATIONS_TAG, []).append((step, table))
            self_weights = attention((2, 4, 4), step)
            writer.attention(step, SELF_ATTN, self_weights, tokens=TOKENS)
            tensors.setdefault(summary.attention_tag(SELF_ATTN), []).append((step, self_weights))
            cross_weights = attention((2, 3, 5), 50 + step)
            writer.attention(step, CROSS_ATTN, cross_weights, tokens=(QUERY_TOKENS, KEY_TOKENS))
            tensors.setdefault(summary.attention_tag(CROSS_ATTN), []).append((step, cross_weights))
            maps = feature_maps(step)
            writer.feature_maps(step, CONV, maps, max_channels=4)
            grid = feature_map_grid(maps, max_channels=4)
            expected["images"].setdefault(summary.feature_maps_tag(CONV), []).append((step, grid))
            writer.histogram(step, HISTOGRAM_TAG, [0, 0, 1, 1, 1, 2, np.nan, np.inf], bins=2)
        writer.alerts(9, detector.history, omitted=2)
        expected["alerts"].append((9, json.loads(json.dumps(detector.history))))
        expected["scalars"][summary.ALERTS_OMITTED_TAG] = [(9, 2.0)]
        assert writer.dropped == 0
    expected["content"] = {
        summary.GRADIENT_FLOW_TAG: {
            "version": summary.VERSION,
            "kind": "gradient_flow",
            "layers": LAYERS,
            "stats": list(summary.GRADIENT_STATS),
            "model": "toy",
        },
        summary.ACTIVATIONS_TAG: {
            "version": summary.VERSION,
            "kind": "activations",
            "layers": LAYERS,
            "stats": list(summary.ACTIVATION_STATS),
        },
        summary.attention_tag(SELF_ATTN): {
            "version": summary.VERSION,
            "kind": "attention",
            "layer": SELF_ATTN,
            "tokens": TOKENS,
        },
        summary.attention_tag(CROSS_ATTN): {
            "version": summary.VERSION,
            "kind": "attention",
            "layer": CROSS_ATTN,
            "query_tokens": QUERY_TOKENS,
            "key_tokens": KEY_TOKENS,
        },
        # TensorBoard keeps the first metadata of a tag: the first alerts event had omitted 0.
        summary.ALERTS_TAG: {"version": summary.VERSION, "kind": "alerts", "omitted": 0},
    }
    return logdir, expected


@pytest.fixture(scope="module", params=["python_multiplexer", "rust_data_server"])
def loaded(request, written):
    """The written run as one of TensorBoard's loaders returns it."""
    logdir, expected = written
    if request.param == "python_multiplexer":
        yield read_run(python_provider(str(logdir)), RUN), expected
        return
    with rust_provider(str(logdir)) as provider:
        snapshot = {}

        def complete() -> bool:
            snapshot["data"] = read_run(provider, RUN)
            alert_steps = [step for step, _ in snapshot["data"].tensors.get(summary.ALERTS_TAG, [])]
            return alert_steps == [step for step, _ in expected["alerts"]]

        wait_until(complete, "the Rust data server to load the run")
        yield snapshot["data"], expected


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint32), np.asarray(expected, np.float32).view(np.uint32))


def test_netviz_tensors_are_float32_and_bitwise_equal_including_nan_inf_and_subnormals(loaded):
    data, expected = loaded
    for tag, points in expected["tensors"].items():
        assert [step for step, _ in data.tensors[tag]] == [step for step, _ in points], tag
        for (_, actual), (_, written) in zip(data.tensors[tag], points, strict=True):
            assert_bitwise_equal(actual, written)


def test_no_gradient_row_reads_back_as_nan_stats_with_has_grad_zero(loaded):
    data, _ = loaded
    _, table = data.tensors[summary.GRADIENT_FLOW_TAG][0]
    missing = dict(zip(summary.GRADIENT_STATS, table[LAYERS.index("classifier")], strict=True))
    assert missing["has_grad"] == 0 and missing["grad_nonfinite"] == 0
    assert math.isnan(missing["grad_l2"]) and missing["param_l2"] == np.float32(0.25)


def test_content_json_of_every_netviz_tag_reads_back(loaded):
    data, expected = loaded
    for tag, content in expected["content"].items():
        assert summary.parse_plugin_metadata(data.tensor_content[tag]) == content, tag
        assert data.tensor_plugin[tag] == summary.PLUGIN_NAME


def test_alerts_json_reads_back_at_every_step_it_was_written(loaded):
    data, expected = loaded
    points = data.tensors[summary.ALERTS_TAG]
    actual = [(step, json.loads(value.item().decode("utf-8"))) for step, value in points]
    assert actual == expected["alerts"]
    kinds = [(alert["kind"], alert["layer"], alert["step"]) for alert in actual[-1][1]]
    assert kinds == [("nonfinite", "features.3", 0), ("nonfinite", "features.3", 5)]


def test_scalars_read_back_as_float32_including_nan_and_inf(loaded):
    data, expected = loaded
    for tag, points in expected["scalars"].items():
        actual = data.scalars[tag]
        assert [step for step, _ in actual] == [step for step, _ in points], tag
        for (_, value), (_, written) in zip(actual, points, strict=True):
            assert np.float32(value).view(np.uint32) == np.float32(written).view(np.uint32), tag


def test_histogram_buckets_read_back_without_non_finite_entries(loaded):
    data, _ = loaded
    assert data.tensor_plugin[HISTOGRAM_TAG] == "histograms"
    assert [step for step, _ in data.tensors[HISTOGRAM_TAG]] == list(SAMPLE_STEPS)
    for _, buckets in data.tensors[HISTOGRAM_TAG]:
        assert_bitwise_equal(buckets, np.array([[0, 1, 2], [1, 2, 4]], np.float32))


def test_feature_map_png_decodes_to_the_grid_with_its_size(loaded):
    data, expected = loaded
    for tag, points in expected["images"].items():
        actual = data.blobs[tag]
        assert [step for step, _ in actual] == [step for step, _ in points]
        for (_, (width, height, png)), (_, grid) in zip(actual, points, strict=True):
            assert (int(width), int(height)) == (grid.shape[1], grid.shape[0])
            np.testing.assert_array_equal(decode_png(png), grid)


def test_the_first_value_of_each_tag_has_the_data_class_of_its_plugin_and_later_ones_no_metadata(written):
    logdir, _ = written
    (name,) = os.listdir(logdir / RUN)
    expected_class = {
        "netviz": summary_pb2.DATA_CLASS_TENSOR,
        "histograms": summary_pb2.DATA_CLASS_TENSOR,
        "scalars": summary_pb2.DATA_CLASS_SCALAR,
        "images": summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    }
    seen, described = set(), set()
    for event in event_file_loader.EventFileLoader(str(logdir / RUN / name)).Load():
        for value in event.summary.value:
            if value.tag in described:
                assert not value.HasField("metadata"), f"{value.tag}: metadata repeated"
                continue
            described.add(value.tag)
            plugin = value.metadata.plugin_data.plugin_name
            assert value.metadata.data_class == expected_class[plugin], value.tag
            seen.add(plugin)
    assert seen == set(expected_class)
