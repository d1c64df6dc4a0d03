"""Bad input to every log call fails at once on the caller's thread, with an error naming the problem.

Nothing bad reaches the writer thread, nothing is counted as dropped, and
input the caller changes after the call does not change what is written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorboard.util import tensor_util

from tb_netviz import summary
from tb_netviz.summary import encoders
from tb_netviz.summary.images import encode_png
from tests.summary_format.event_records import summary_events
from tests.summary_format.png_decode import decode_png

S = len(summary.GRADIENT_STATS)
A = len(summary.ACTIVATION_STATS)

BAD_CALLS = {
    # gradient flow and activations: the per-layer tables
    "gradient-strings": (
        lambda w: w.gradient_flow(0, ["a"], np.full((1, S), "x")),
        TypeError,
        "numeric.*<U1",
    ),
    "gradient-objects": (
        lambda w: w.gradient_flow(0, ["a"], np.full((1, S), None)),
        TypeError,
        "dtype object",
    ),
    "gradient-complex": (lambda w: w.gradient_flow(0, ["a"], np.ones((1, S), complex)), TypeError, "complex"),
    "gradient-too-few-stats": (
        lambda w: w.gradient_flow(0, ["a"], np.ones((1, S - 1))),
        ValueError,
        r"\(1, 7\)",
    ),
    "gradient-one-dimensional": (lambda w: w.gradient_flow(0, ["a"], np.ones(S)), ValueError, "shape"),
    "gradient-ragged": (
        lambda w: w.gradient_flow(0, ["a", "b"], [[1.0] * S, [1.0]]),
        ValueError,
        "rectangular",
    ),
    "gradient-no-layers": (
        lambda w: w.gradient_flow(0, [], np.ones((0, S))),
        ValueError,
        "layers must not be empty",
    ),
    "gradient-int-layer": (
        lambda w: w.gradient_flow(0, [1], np.ones((1, S))),
        TypeError,
        "non-empty str, got 1",
    ),
    "gradient-empty-layer": (lambda w: w.gradient_flow(0, [""], np.ones((1, S))), TypeError, "non-empty str"),
    "gradient-layers-string": (
        lambda w: w.gradient_flow(0, "ab", np.ones((2, S))),
        TypeError,
        "single string",
    ),
    "gradient-duplicate-layers": (
        lambda w: w.gradient_flow(0, ["fc", "fc"], np.ones((2, S))),
        ValueError,
        r"unique; repeated: \['fc'\]",
    ),
    "gradient-content-object": (
        lambda w: w.gradient_flow(0, ["a"], np.ones((1, S)), model=object()),
        ValueError,
        "not plain JSON",
    ),
    "gradient-content-nan": (
        lambda w: w.gradient_flow(0, ["a"], np.ones((1, S)), lr=float("nan")),
        ValueError,
        "not plain JSON",
    ),
    "gradient-content-version": (
        lambda w: w.gradient_flow(0, ["a"], np.ones((1, S)), version=9),
        ValueError,
        "may not be named",
    ),
    "activations-wrong-stats": (lambda w: w.activations(0, ["a"], np.ones((1, S))), ValueError, r"\(1, 6\)"),
    "activations-duplicate": (lambda w: w.activations(0, ["a", "a"], np.ones((2, A))), ValueError, "unique"),
    "activations-bytes-layer": (
        lambda w: w.activations(0, [b"a"], np.ones((1, A))),
        TypeError,
        "non-empty str",
    ),
    # attention
    "attention-two-dimensional": (
        lambda w: w.attention(0, "a", np.ones((2, 2))),
        ValueError,
        "heads, queries, keys",
    ),
    "attention-strings": (lambda w: w.attention(0, "a", np.full((1, 2, 2), "x")), TypeError, "numeric"),
    "attention-empty": (lambda w: w.attention(0, "a", np.ones((0, 2, 2))), ValueError, "must not be empty"),
    "attention-int-layer": (lambda w: w.attention(0, 3, np.ones((1, 2, 2))), TypeError, "layer name"),
    "attention-tokens-string": (
        lambda w: w.attention(0, "a", np.ones((1, 2, 2)), tokens="ab"),
        TypeError,
        "sequence of labels",
    ),
    "attention-tokens-number": (
        lambda w: w.attention(0, "a", np.ones((1, 2, 2)), tokens=5),
        TypeError,
        "sequence of labels",
    ),
    "attention-tokens-too-few": (
        lambda w: w.attention(0, "a", np.ones((1, 2, 2)), tokens=["x"]),
        ValueError,
        "2 queries and 2 keys",
    ),
    "attention-key-tokens-too-few": (
        lambda w: w.attention(0, "a", np.ones((1, 2, 3)), tokens=(["q", "r"], ["k"])),
        ValueError,
        "2 queries and 1 keys",
    ),
    # feature maps
    "maps-one-dimensional": (lambda w: w.feature_maps(0, "c", np.ones(4)), ValueError, r"got shape \(4,\)"),
    "maps-five-dimensional": (lambda w: w.feature_maps(0, "c", np.ones((1,) * 5)), ValueError, "got shape"),
    "maps-no-channels": (
        lambda w: w.feature_maps(0, "c", np.ones((0, 3, 3))),
        ValueError,
        r"non-empty.*got shape \(0, 3, 3\)",
    ),
    "maps-ragged": (lambda w: w.feature_maps(0, "c", [[[1.0]], [[1.0, 2.0]]]), ValueError, "rectangular"),
    "maps-strings": (lambda w: w.feature_maps(0, "c", np.full((1, 2, 2), "x")), TypeError, "numeric"),
    "maps-complex": (lambda w: w.feature_maps(0, "c", np.ones((1, 2, 2), complex)), TypeError, "numeric"),
    "maps-zero-channels-asked": (
        lambda w: w.feature_maps(0, "c", np.ones((1, 2, 2)), max_channels=0),
        ValueError,
        "max_channels must be >= 1",
    ),
    "maps-float-channels-asked": (
        lambda w: w.feature_maps(0, "c", np.ones((1, 2, 2)), max_channels=2.5),
        TypeError,
        "max_channels must be an int",
    ),
    "maps-none-layer": (lambda w: w.feature_maps(0, None, np.ones((1, 2, 2))), TypeError, "layer name"),
    # scalars and histograms
    "scalar-array": (lambda w: w.scalar(0, "t", np.ones(2)), ValueError, "single number"),
    "scalar-string": (lambda w: w.scalar(0, "t", "1.0"), TypeError, "numeric"),
    "scalar-none": (lambda w: w.scalar(0, "t", None), TypeError, "numeric"),
    "scalar-int-tag": (lambda w: w.scalar(0, 5, 1.0), TypeError, "tag must be a non-empty str, got 5"),
    "scalar-empty-tag": (lambda w: w.scalar(0, "", 1.0), TypeError, "tag must be a non-empty str"),
    "histogram-strings": (lambda w: w.histogram(0, "h", ["a"]), TypeError, "numeric"),
    "histogram-empty": (lambda w: w.histogram(0, "h", []), ValueError, "must not be empty"),
    "histogram-zero-bins": (
        lambda w: w.histogram(0, "h", [1.0], bins=0),
        ValueError,
        "bins must be an int >= 1",
    ),
    "histogram-float-bins": (
        lambda w: w.histogram(0, "h", [1.0], bins=2.5),
        ValueError,
        "bins must be an int",
    ),
    "histogram-bytes-tag": (lambda w: w.histogram(0, b"h", [1.0]), TypeError, "tag must be a non-empty str"),
    "histogram-buckets-not-3-columns": (
        lambda w: w.histogram_buckets(0, "h", np.zeros((4, 2))),
        ValueError,
        r"buckets must be \[bins, 3\]",
    ),
    # alerts
    "alerts-string": (lambda w: w.alerts(0, "alert"), TypeError, "sequence of dicts, got str"),
    "alerts-one-dict": (
        lambda w: w.alerts(0, {"kind": "nonfinite"}),
        TypeError,
        "sequence of dicts, got dict",
    ),
    "alerts-not-dicts": (lambda w: w.alerts(0, [1]), TypeError, "not dicts"),
    "alerts-object": (lambda w: w.alerts(0, [{"x": object()}]), ValueError, "not plain JSON"),
    "alerts-nan": (lambda w: w.alerts(0, [{"value": float("nan")}]), ValueError, "not plain JSON"),
    "alerts-negative-omitted": (
        lambda w: w.alerts(0, [], omitted=-1),
        ValueError,
        "omitted must be an int >= 0",
    ),
    # steps
    "step-string": (lambda w: w.scalar("7", "t", 1.0), TypeError, "step must be an int, got str"),
    "step-float": (lambda w: w.scalar(1.5, "t", 1.0), TypeError, "step must be an int, got float"),
    "step-bool": (lambda w: w.scalar(True, "t", 1.0), TypeError, "step must be an int"),
    "step-too-large": (lambda w: w.scalar(2**70, "t", 1.0), ValueError, "64 bits"),
}


@pytest.fixture(scope="module")
def writer(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("bad_input")
    with summary.NetVizWriter(log_dir) as writer:
        yield writer
    assert writer.dropped == 0
    assert summary_events(log_dir) == []  # no bad call queued anything


@pytest.mark.parametrize("call, error, message", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_raises_a_clear_error_on_the_calling_thread(writer, call, error, message):
    with pytest.raises(error, match=message):
        call(writer)


def test_input_changed_after_the_call_does_not_change_what_is_written(tmp_path):
    layers = ["a", "b"]
    table = np.ones((2, S), np.float32)
    weights = np.ones((1, 2, 2), np.float32)
    maps = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    values = np.ones(10, np.float32)
    tokens = ["x", "y"]
    alerts = [{"kind": "nonfinite", "layer": "a", "step": 0}]
    with summary.NetVizWriter(tmp_path, flush_secs=60) as writer:
        writer.gradient_flow(0, layers, table)
        writer.attention(0, "attn", weights, tokens=tokens)
        writer.feature_maps(0, "conv", maps)
        writer.histogram(0, "h", values)
        writer.alerts(0, alerts)
        layers[0] = "changed"
        tokens[0] = "changed"
        alerts[0]["layer"] = "changed"
        for array in (table, weights, maps, values):
            array[...] = 7
    written = {value.tag: value for event in summary_events(tmp_path) for value in event.summary.value}
    flow = written[summary.GRADIENT_FLOW_TAG]
    assert json.loads(flow.metadata.plugin_data.content)["layers"] == ["a", "b"]
    assert (tensor_util.make_ndarray(flow.tensor) == 1).all()
    attention = written[summary.attention_tag("attn")]
    assert json.loads(attention.metadata.plugin_data.content)["tokens"] == ["x", "y"]
    assert (tensor_util.make_ndarray(attention.tensor) == 1).all()
    assert len(set(written[summary.feature_maps_tag("conv")].tensor.string_val[2])) > 1  # not a flat 7
    assert tensor_util.make_ndarray(written["h"].tensor)[:, 2].sum() == 10
    assert tensor_util.make_ndarray(written["h"].tensor)[0, 0] == 0.5  # the range of ones, not of sevens
    assert json.loads(written[summary.ALERTS_TAG].tensor.string_val[0])[0]["layer"] == "a"


def test_histogram_of_only_non_finite_values_has_no_buckets():
    value = encoders.histogram_value("h", [np.nan, np.inf, -np.inf])
    assert tensor_util.make_ndarray(value.tensor).shape == (0, 3)


def test_histogram_of_one_repeated_value_has_a_unit_wide_range():
    buckets = tensor_util.make_ndarray(encoders.histogram_value("h", [2.0, 2.0, 2.0], bins=2).tensor)
    np.testing.assert_array_equal(buckets, [[1.5, 2.0, 0.0], [2.0, 2.5, 3.0]])


def test_float64_values_beyond_float32_range_become_infinite_not_an_error():
    value = encoders.gradient_flow_value(["a"], np.full((1, S), 1e300))
    assert np.isposinf(tensor_util.make_ndarray(value.tensor)).all()


def test_self_attention_tokens_equal_for_both_axes_are_stored_once():
    content = encoders.attention_content("attn", np.ones((1, 2, 2)), (["a", "b"], ["a", "b"]))
    assert content == {"layer": "attn", "tokens": ["a", "b"]}


def test_non_string_tokens_are_stored_as_their_text():
    content = encoders.attention_content("attn", np.ones((1, 2, 2)), [101, 2023])
    assert content["tokens"] == ["101", "2023"]


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4), (1, 1)], ids=str)
def test_png_of_grey_rgb_and_rgba_images_decodes_to_the_same_pixels(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(image)), image)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((2, 2), np.float32), "must be uint8"),
        (np.zeros((2, 2, 2), np.uint8), r"\[H, W, 3\]"),
        (np.zeros((0, 2), np.uint8), r"got \(0, 2, 1\)"),
        (np.zeros(4, np.uint8), r"got \(4,\)"),
    ],
    ids=["float", "two-channels", "empty", "one-dimensional"],
)
def test_png_of_an_unsupported_image_is_refused(image, message):
    with pytest.raises(ValueError, match=message):
        encode_png(image)
