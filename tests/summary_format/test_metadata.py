"""The versioned content JSON, the tags and the statistic columns: the contract both sides read."""

from __future__ import annotations

import json
import math

import pytest
from tensorboard.compat.proto import summary_pb2

from tb_netviz import summary
from tb_netviz.summary import metadata


def test_created_metadata_names_the_plugin_sets_tensor_data_class_and_parses_back():
    md = summary.create_summary_metadata("gradient_flow", layers=["fc"], stats=["grad_l2"])
    assert md.plugin_data.plugin_name == "netviz"
    assert md.data_class == summary_pb2.DATA_CLASS_TENSOR
    assert summary.parse_plugin_metadata(md.plugin_data.content) == {
        "version": 1,
        "kind": "gradient_flow",
        "layers": ["fc"],
        "stats": ["grad_l2"],
    }


def test_unknown_kind_is_refused_when_creating_and_when_parsing():
    with pytest.raises(ValueError, match="unknown netviz kind 'spectrogram'"):
        summary.create_summary_metadata("spectrogram")
    with pytest.raises(ValueError, match="unknown kind 'spectrogram'"):
        summary.parse_plugin_metadata(b'{"version": 1, "kind": "spectrogram"}')


def test_older_version_is_read_as_it_is():
    content = json.dumps({"version": 0, "kind": "attention", "layer": "attn"}).encode()
    assert summary.parse_plugin_metadata(content) == {"version": 0, "kind": "attention", "layer": "attn"}


def test_newer_version_is_a_clear_error_naming_both_versions_and_the_fix():
    content = json.dumps({"version": summary.VERSION + 1, "kind": "alerts"}).encode()
    with pytest.raises(summary.MetadataVersionError) as error:
        summary.parse_plugin_metadata(content)
    message = str(error.value)
    assert f"version {summary.VERSION + 1}" in message and f"up to {summary.VERSION}" in message
    assert "pip install -U tb-netviz" in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"{not json", "not UTF-8 JSON"),
        (b"[1, 2]", "no integer 'version'"),
        (b'{"kind": "alerts"}', "no integer 'version'"),
        (b'{"version": "1", "kind": "alerts"}', "no integer 'version'"),
        (b'{"version": true, "kind": "alerts"}', "no integer 'version'"),
        (None, "not UTF-8 JSON"),
    ],
    ids=["not-utf8", "not-json", "a-list", "no-version", "string-version", "bool-version", "none"],
)
def test_content_that_is_not_netviz_content_is_a_value_error(content, message):
    with pytest.raises(ValueError, match=message):
        summary.parse_plugin_metadata(content)


def test_content_given_as_text_is_read_like_bytes():
    assert summary.parse_plugin_metadata('{"version": 1, "kind": "alerts"}')["kind"] == "alerts"


def test_a_field_named_version_cannot_override_the_format_version():
    with pytest.raises(ValueError, match=r"may not be named \['version'\]"):
        summary.create_summary_metadata("alerts", version=summary.VERSION + 1)


def test_layer_tags_put_the_layer_name_after_a_fixed_prefix():
    assert (
        summary.attention_tag("encoder.layers.1.self_attn") == "netviz/attention/encoder.layers.1.self_attn"
    )
    assert summary.feature_maps_tag("features.0") == "netviz/feature_maps/features.0"
    assert metadata.layer_from_tag("netviz/feature_maps/a/b", summary.FEATURE_MAPS_TAG_PREFIX) == "a/b"
    assert metadata.layer_from_tag("netviz/attention/", summary.ATTENTION_TAG_PREFIX) is None
    assert metadata.layer_from_tag("netviz/gradient_flow", summary.ATTENTION_TAG_PREFIX) is None


@pytest.mark.parametrize("layer", ["", None, 3, b"fc"])
def test_layer_tag_of_a_non_name_is_a_type_error(layer):
    with pytest.raises(TypeError, match="layer name must be a non-empty str"):
        summary.attention_tag(layer)


def test_every_netviz_tag_is_under_the_netviz_prefix_and_the_plugin_name_has_no_dot():
    tags = [
        summary.GRADIENT_FLOW_TAG,
        summary.ACTIVATIONS_TAG,
        summary.ALERTS_TAG,
        summary.ALERTS_OMITTED_TAG,
        summary.GLOBAL_GRAD_NORM_TAG,
        summary.CLIPPED_GRAD_NORM_TAG,
        summary.ATTENTION_TAG_PREFIX,
        summary.FEATURE_MAPS_TAG_PREFIX,
    ]
    assert all(tag.startswith("netviz/") for tag in tags)
    assert len(set(tags)) == len(tags)
    assert "." not in summary.PLUGIN_NAME


def test_statistic_columns_of_version_1_keep_their_names_and_order():
    # Appending is allowed within a version; renaming or reordering breaks every old log.
    assert summary.GRADIENT_STATS[:7] == (
        "grad_l2",
        "grad_mean_abs",
        "grad_max_abs",
        "param_l2",
        "grad_to_param",
        "grad_nonfinite",
        "has_grad",
    )
    assert summary.ACTIVATION_STATS[:6] == (
        "act_mean",
        "act_std",
        "act_zero_frac",
        "act_dead_frac",
        "act_max_abs",
        "act_nonfinite",
    )
    assert len(set(summary.GRADIENT_STATS)) == len(summary.GRADIENT_STATS)
    assert len(set(summary.ACTIVATION_STATS)) == len(summary.ACTIVATION_STATS)


def test_no_gradient_row_differs_from_a_zero_and_from_a_non_finite_gradient():
    row = dict(zip(summary.GRADIENT_STATS, summary.describe_missing_gradient(), strict=True))
    assert row["has_grad"] == 0.0  # a zero gradient has has_grad 1
    assert row["grad_nonfinite"] == 0.0  # a non-finite gradient has grad_nonfinite > 0
    assert math.isnan(row["grad_l2"]) and math.isnan(row["grad_max_abs"])
    assert summary.describe_missing_gradient() is not summary.describe_missing_gradient()  # a fresh list


def test_layer_naming_rule_is_stated_for_both_frameworks():
    rule = summary.LAYER_NAMING_RULE
    assert "torch" in rule and "Keras" in rule and "forward" in rule
