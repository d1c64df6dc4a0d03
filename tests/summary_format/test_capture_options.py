"""CaptureOptions: one validated set of option names for the Keras and torch callbacks."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tb_netviz.summary import AlertThresholds, CaptureOptions
from tb_netviz.summary.options import CaptureOptionKwargs, documents_capture_options

NAMES = ["features.0", "features.3", "encoder.fc", "encoder.norm", "head"]


def test_defaults_capture_every_layer_at_the_documented_rates():
    options = CaptureOptions()
    assert (options.log_every_n_steps, options.sample_every_n_steps) == (10, 100)
    assert (options.max_channels, options.max_heads, options.histograms) == (16, 8, False)
    assert options.alert_thresholds == AlertThresholds()
    assert options.select_layers(NAMES) == NAMES


def test_patterns_select_in_the_given_order_and_bang_patterns_exclude():
    assert CaptureOptions(layers=["head", "features.*"]).select_layers(NAMES) == [
        "features.0",
        "features.3",
        "head",
    ]
    assert CaptureOptions(layers=["encoder.*", "!encoder.norm"]).select_layers(NAMES) == ["encoder.fc"]
    assert CaptureOptions(layers=["!features.*"]).select_layers(NAMES) == [
        "encoder.fc",
        "encoder.norm",
        "head",
    ]


def test_patterns_are_case_sensitive_on_every_platform():
    with pytest.raises(ValueError, match="'HEAD' matches no layer"):
        CaptureOptions(layers=["HEAD"]).select_layers(NAMES)


@pytest.mark.parametrize("pattern", ["decoder.*", "!decoder.*"])
def test_a_pattern_matching_no_layer_is_an_error_listing_the_layers(pattern):
    with pytest.raises(ValueError, match=r"matches no layer; layers are: features\.0, features\.3"):
        CaptureOptions(layers=[pattern]).select_layers(NAMES)


def test_the_error_for_many_layers_shows_a_few_of_them():
    names = [f"block{i}" for i in range(20)]
    with pytest.raises(ValueError, match=r"block7, \.\.\.$"):
        CaptureOptions(layers=["typo"]).select_layers(names)


def test_steps_are_chosen_by_their_own_rates():
    options = CaptureOptions(log_every_n_steps=5, sample_every_n_steps=20)
    assert [s for s in range(41) if options.is_gradient_step(s)] == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    assert [s for s in range(41) if options.is_sample_step(s)] == [0, 20, 40]


def test_tokens_are_a_list_of_text_or_a_callable_on_the_sample():
    assert CaptureOptions(tokens=[1, "b"]).tokens_for("sample") == ["1", "b"]
    assert CaptureOptions(tokens=lambda sample: list(sample)).tokens_for("ab") == ["a", "b"]
    assert CaptureOptions().tokens_for("ab") is None


@pytest.mark.parametrize(
    "option, error, message",
    [
        ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps must be >= 1, got 0"),
        ({"sample_every_n_steps": 2.0}, TypeError, "sample_every_n_steps must be an int, got float"),
        ({"max_channels": True}, TypeError, "max_channels must be an int"),
        ({"max_heads": 0}, ValueError, "max_heads must be >= 1"),
        ({"layers": "encoder.*"}, TypeError, "not the string"),
        ({"layers": [""]}, ValueError, "empty or non-string pattern"),
        ({"layers": ["!"]}, ValueError, "empty or non-string pattern"),
        ({"layers": [3]}, ValueError, "empty or non-string pattern"),
        ({"tokens": "hello"}, TypeError, "not a string"),
        ({"histograms": "yes"}, TypeError, "histograms must be True or False"),
        ({"alert_thresholds": {"patience": 2}}, TypeError, "must be an AlertThresholds, got dict"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else "",
)
def test_bad_options_are_refused_at_construction_naming_the_option(option, error, message):
    with pytest.raises(error, match=message):
        CaptureOptions(**option)


def test_max_heads_none_means_every_head():
    assert CaptureOptions(max_heads=None).max_heads is None


def test_alert_thresholds_none_means_the_default_thresholds():
    assert CaptureOptions(alert_thresholds=None).alert_thresholds == AlertThresholds()


def test_an_unknown_option_is_named_with_the_closest_option_and_every_option():
    with pytest.raises(TypeError) as raised:
        CaptureOptions.from_kwargs("NetVizCallback", gradcam_layer=["conv"], colour="red")
    message = str(raised.value)
    assert message.startswith(
        "NetVizCallback got unknown option(s) ['colour', 'gradcam_layer'] (did you mean 'gradcam_layers'?);"
    )
    assert message.endswith(", ".join(field.name for field in dataclasses.fields(CaptureOptions)))


def test_from_kwargs_builds_the_options_it_is_given():
    options = CaptureOptions.from_kwargs("NetViz", sample_every_n_steps=7, gradcam=True)
    assert options == CaptureOptions(sample_every_n_steps=7, gradcam=True)


def test_the_keyword_argument_type_lists_every_option_with_its_type():
    fields = typing.get_type_hints(CaptureOptions)
    # None is the callbacks' documented way to ask for the default thresholds.
    fields["alert_thresholds"] = AlertThresholds | None
    assert typing.get_type_hints(CaptureOptionKwargs) == fields


def test_every_option_is_documented_in_field_order_at_the_placeholder_with_its_indent():
    @documents_capture_options
    class Callback:
        """Logs.

        Args:
            log_dir: where.
            {capture_options}
        """

    entries = [
        line.strip().partition(":")[0]
        for line in Callback.__doc__.splitlines()
        if len(line) - len(line.lstrip()) == 12
    ]
    assert entries == ["log_dir", *(field.name for field in dataclasses.fields(CaptureOptions))]
