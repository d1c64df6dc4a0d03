"""The alert rules shared by Keras and torch: each fires once when its condition starts, then re-arms."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from tb_netviz import summary
from tb_netviz.summary import alerts as alert_rules
from tb_netviz.summary import encoders

G = summary.GRADIENT_STATS


def grad_row(l2: float, nonfinite: int = 0, has_grad: bool = True) -> list[float]:
    if not has_grad:
        return summary.describe_missing_gradient()
    row = [abs(l2)] * len(G)
    row[G.index("grad_nonfinite")] = float(nonfinite)
    row[G.index("has_grad")] = 1.0
    return row


def act_row(dead_fraction: float) -> list[float]:
    row = [0.5] * len(summary.ACTIVATION_STATS)
    row[summary.ACTIVATION_STATS.index("act_dead_frac")] = dead_fraction
    return row


def fired_steps(detector, layers, rows_per_step, check="check_gradients"):
    """(step, kind, layer) of every alert fired while feeding ``rows_per_step`` from step 0."""
    fired = []
    for step, rows in enumerate(rows_per_step):
        for alert in getattr(detector, check)(step, layers, np.array(rows, dtype=float)):
            fired.append((step, alert["kind"], alert["layer"]))
    return fired


def test_non_finite_gradient_fires_once_while_it_lasts_and_again_after_it_stayed_clear():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=3), warn=False)
    bad, good = [grad_row(np.nan, nonfinite=4)], [grad_row(1.0)]
    rows = [bad, bad, good, [grad_row(np.nan, nonfinite=2)], good, good, good, bad]
    # one clean step (2) does not re-arm; three (4, 5, 6) do
    assert fired_steps(detector, ["fc"], rows) == [(0, "nonfinite", "fc"), (7, "nonfinite", "fc")]
    assert detector.history[0]["value"] == 4.0 and "4 NaN/Inf entries" in detector.history[0]["message"]


def test_vanishing_fires_after_patience_steps_once_and_re_arms_after_recovery():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=3), warn=False)
    tiny, normal = grad_row(1e-7), grad_row(1.0)
    rows = [[tiny, normal]] * 4 + [[normal, normal]] * 3 + [[tiny, normal]] * 3
    fired = fired_steps(detector, ["in", "out"], rows)
    assert [f for f in fired if f[1] == "vanishing"] == [(2, "vanishing", "in"), (9, "vanishing", "in")]
    assert (4, "exploding", "in") in fired  # a 1e7-fold recovery is also a jump over its own average
    first = detector.history[0]
    assert first["value"] == pytest.approx(1e-7) and first["threshold"] == 1e-4


def test_a_step_without_gradient_is_not_vanishing_and_restarts_the_patience_count():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=3), warn=False)
    tiny, normal, missing = grad_row(1e-7), grad_row(1.0), grad_row(0.0, has_grad=False)
    rows = [[tiny, normal], [tiny, normal], [missing, normal], [tiny, normal], [tiny, normal], [tiny, normal]]
    fired = fired_steps(detector, ["in", "out"], rows)
    assert [f for f in fired if f[1] == "vanishing"] == [(5, "vanishing", "in")]


def test_exploding_needs_history_fires_on_a_jump_over_the_running_average_and_re_arms():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=3, exploding_factor=10), warn=False)
    norms = [1.0, 1.0, 1.0, 20.0, 2.0, 2.0, 2.0, 2000.0]
    rows = [[grad_row(norm)] for norm in norms]
    assert fired_steps(detector, ["fc"], rows) == [(3, "exploding", "fc"), (7, "exploding", "fc")]
    assert detector.history[0]["value"] == pytest.approx(20.0)


def test_a_jump_before_enough_history_is_not_exploding():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=3), warn=False)
    assert fired_steps(detector, ["fc"], [[grad_row(1.0)], [grad_row(1000.0)]]) == []


def test_dead_units_fire_at_the_threshold_once_and_re_arm():
    detector = summary.AlertDetector(summary.AlertThresholds(dead_fraction=0.5), warn=False)
    rows = [[act_row(f)] for f in (0.2, 0.5, 0.9, 0.1, 0.6, 0.1, 0.1, 0.1, 0.7, math.nan)]
    fired = fired_steps(detector, ["relu"], rows, check="check_activations")
    assert fired == [(1, "dead_units", "relu"), (8, "dead_units", "relu")]


def test_a_vanishing_ratio_wandering_around_the_threshold_is_one_alert():
    detector = summary.AlertDetector(summary.AlertThresholds(vanishing_ratio=1e-4, patience=3), warn=False)
    ratios = [5e-5] * 3 + [2e-4] * 4 + [5e-5] * 3 + [5e-3] * 3 + [5e-5] * 3
    rows = [[grad_row(ratio), grad_row(1.0)] for ratio in ratios]
    fired = [f for f in fired_steps(detector, ["in", "out"], rows) if f[1] == "vanishing"]
    # 2e-4 is above the threshold but not a recovery; 5e-3 (over 10x the threshold) is
    assert fired == [(2, "vanishing", "in"), (15, "vanishing", "in")]


def test_a_value_hovering_at_a_threshold_is_one_alert_not_one_per_crossing():
    detector = summary.AlertDetector(summary.AlertThresholds(dead_fraction=0.5, patience=3), warn=False)
    rows = [[act_row(f)] for f in (0.6, 0.4, 0.6, 0.4, 0.4, 0.6, 0.4, 0.6)]
    fired = fired_steps(detector, ["relu"], rows, check="check_activations")
    assert fired == [(0, "dead_units", "relu")]


def test_history_is_capped_keeping_the_first_alerts_and_counting_the_rest():
    detector = summary.AlertDetector(warn=False)
    layers = [f"layer{i}" for i in range(alert_rules.MAX_ALERT_HISTORY + 100)]
    fired = detector.check_gradients(0, layers, np.array([grad_row(np.nan, nonfinite=1)] * len(layers)))
    assert len(fired) == len(layers)  # the caller still sees every alert of this step
    assert len(detector.history) == alert_rules.MAX_ALERT_HISTORY
    assert detector.history[0]["layer"] == "layer0"
    assert detector.omitted == 100
    more = detector.check_activations(1, ["relu"], np.array([act_row(1.0)]))
    assert len(more) == 1 and detector.omitted == 101


def test_each_kind_and_layer_warns_once_pointing_at_the_callers_line():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=1))
    rows = [[grad_row(np.nan, 1), grad_row(np.nan, 1)], [grad_row(1.0), grad_row(1.0)]] * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fired = fired_steps(detector, ["a", "b"], rows)
    assert len(fired) == 4  # fired twice per layer
    messages = [str(w.message) for w in caught if w.category is summary.NetVizAlertWarning]
    assert len(messages) == 2 and "'a'" in messages[0] and "'b'" in messages[1]
    assert {w.filename for w in caught} == {__file__}


def test_a_detector_with_warn_false_is_silent():
    detector = summary.AlertDetector(warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector.check_gradients(0, ["a"], np.array([grad_row(np.nan, 1)]))
    assert len(detector.history) == 1


def test_every_alert_is_plain_json_with_the_documented_fields():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=1), warn=False)
    detector.check_gradients(0, ["a", "b"], np.array([grad_row(np.nan, 1), grad_row(1.0)]))
    detector.check_gradients(1, ["a", "b"], np.array([grad_row(1e-9), grad_row(1.0)]))
    detector.check_activations(1, ["a"], np.array([act_row(1.0)]))
    assert [a["kind"] for a in detector.history] == ["nonfinite", "vanishing", "dead_units"]
    for alert in detector.history:
        assert set(alert) == {"kind", "layer", "step", "value", "threshold", "message"}
        assert alert["kind"] in summary.ALERT_KINDS
    encoders.alerts_value(detector.history)  # refuses NaN, so this proves the JSON is plain
    assert json.loads(json.dumps(detector.history, allow_nan=False)) == detector.history


def test_statistics_of_the_wrong_shape_or_type_are_refused():
    detector = summary.AlertDetector(warn=False)
    with pytest.raises(ValueError, match=r"shape \(2, 7\)"):
        detector.check_gradients(0, ["a", "b"], np.ones((1, len(G))))
    with pytest.raises(TypeError, match="sequence of non-empty str"):
        detector.check_gradients(0, "ab", np.ones((2, len(G))))
    with pytest.raises(TypeError, match="numeric"):
        detector.check_activations(0, ["a"], np.full((1, 6), "x"))


@pytest.mark.parametrize(
    "option, message",
    [
        ({"vanishing_ratio": 0}, "vanishing_ratio must be in"),
        ({"vanishing_ratio": 1.5}, "vanishing_ratio must be in"),
        ({"exploding_factor": 1}, "exploding_factor must be a finite number > 1"),
        ({"exploding_factor": math.inf}, "exploding_factor must be a finite number > 1"),
        ({"exploding_factor": math.nan}, "exploding_factor must be a finite number > 1"),
        ({"vanishing_ratio": math.nan}, "vanishing_ratio must be in"),
        ({"dead_fraction": 0}, "dead_fraction must be in"),
        ({"dead_fraction": 1.01}, "dead_fraction must be in"),
        ({"patience": 0}, "patience must be an int >= 1"),
        ({"patience": 2.0}, "patience must be an int >= 1"),
    ],
    ids=str,
)
def test_thresholds_outside_their_range_are_refused(option, message):
    with pytest.raises(ValueError, match=message):
        summary.AlertThresholds(**option)


def test_a_finite_gradient_whose_norm_overflowed_is_exploding_not_non_finite():
    detector = summary.AlertDetector(warn=False)
    overflowed = grad_row(1.0)
    overflowed[G.index("grad_l2")] = math.inf  # every entry finite (grad_nonfinite 0), norm past float32
    fired = fired_steps(detector, ["fc"], [[overflowed]])
    assert fired == [(0, "exploding", "fc")]
    assert detector.history[0]["value"] is None  # JSON has no Infinity
    assert "overflowed" in detector.history[0]["message"]


@pytest.mark.parametrize(
    "value, shown",
    [
        (1011298.7, "1.01e6"),
        (11.84, "11.8"),
        (0.13022949250000002, "0.13"),
        (2.707519e-6, "2.71e-6"),
        (33308070000000000000.0, "3.33e19"),
        (1105.0, "1105"),
        (1e-4, "1e-4"),
        (-0.00012345, "-1.23e-4"),
        (0.0, "0"),
    ],
)
def test_numbers_in_alert_messages_have_three_significant_digits(value, shown):
    assert alert_rules.format_number(value) == shown


def test_an_exploding_message_reads_its_factor_in_short_form():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=3), warn=False)
    norms = [1.0, 1.0, 1.0, 1011298.7]
    fired_steps(detector, ["fc"], [[grad_row(norm)] for norm in norms])
    message = detector.history[0]["message"]
    assert "grew 1.01e6x over its recent average (threshold 10x)" in message, message


def test_vanishing_and_dead_unit_messages_format_their_numbers_the_same_way():
    detector = summary.AlertDetector(summary.AlertThresholds(patience=1), warn=False)
    fired_steps(detector, ["in", "out"], [[grad_row(2.7075e-9), grad_row(1.0)]])
    assert (
        "gradient norm is 2.71e-9 of the largest layer's (threshold 1e-4)" in detector.history[0]["message"]
    )
    detector.check_activations(0, ["relu"], np.array([act_row(0.625)]))
    assert (
        "62.5% of its units are zero for the whole probe batch (threshold" in detector.history[-1]["message"]
    )
