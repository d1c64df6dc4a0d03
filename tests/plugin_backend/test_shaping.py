"""The pure parts of the plugin: step downsampling, tables, parameters, cache."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard import errors
from tensorboard.data.provider import TensorDatum

from tb_netviz.plugin import data, query
from tb_netviz.plugin.cache import ByteBudgetCache
from tb_netviz.plugin.downsample import pick_step_indices


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=200, unique=True).map(sorted),
    max_steps=st.integers(1, 50),
    required=st.lists(st.integers(-(10**6), 10**6), max_size=10),
)
def test_downsampling_keeps_first_last_and_required_steps_within_the_cap(steps, max_steps, required):
    steps = np.array(steps, dtype=np.int64)
    picked = pick_step_indices(steps, max_steps, required)
    chosen = set(steps[picked].tolist())
    must = {int(steps[0]), int(steps[-1])} | (set(required) & set(steps.tolist()))
    assert must <= chosen
    assert list(picked) == sorted(set(picked.tolist()))
    assert len(picked) <= max(max_steps, len(must)) or len(steps) <= max_steps
    if len(steps) <= max_steps:
        assert len(picked) == len(steps)


def test_downsampling_spreads_the_other_steps_evenly():
    steps = np.arange(1000)
    picked = pick_step_indices(steps, 11)
    assert steps[picked].tolist() == list(range(0, 1000, 100)) + [999] or len(picked) == 11
    assert np.diff(picked).max() - np.diff(picked).min() <= 1


def datum(step, value, shape=(2, 1)):
    return TensorDatum(step=step, wall_time=float(step), numpy=np.full(shape, value, np.float32))


def test_table_keeps_the_newest_event_of_a_repeated_step_and_skips_mismatched_shapes():
    table = data.layer_table(
        {"layers": ["a", "b"], "stats": ["x"]},
        [datum(0, 1.0), datum(5, 2.0), datum(5, 3.0), datum(9, 4.0, shape=(3, 1))],
    )
    assert table.steps.tolist() == [0, 5]
    assert table.values_at([0, 1])[:, 0, 0].tolist() == [1.0, 3.0]
    assert table.skipped == 1


def test_table_without_layer_names_is_unreadable():
    with pytest.raises(data.UnreadableDataError, match="layers"):
        data.layer_table({"stats": ["x"]}, [])


def test_sampling_is_unknown_without_a_logging_interval_unless_all_is_kept():
    steps = np.array([3, 7, 15])
    assert data.sampling_summary(steps, {}, keeps_all=False)["sampled"] is None
    assert data.sampling_summary(steps, {}, keeps_all=True)["sampled"] is False
    assert data.sampling_summary(steps, {"log_every_n_steps": 4}, keeps_all=False)["sampled"] is True
    assert (
        data.sampling_summary(np.array([3, 7, 11]), {"log_every_n_steps": 4}, keeps_all=False)["sampled"]
        is False
    )


def test_alert_history_keeps_well_formed_alerts_in_step_order_and_encodes_non_finite():
    text = '[{"step": 9, "value": NaN}, {"step": 2}, {"step": 1.5}, {"step": true}, "x", {"step": 1e400}]'
    assert data.parse_alert_history(text) == [{"step": 2}, {"step": 9, "value": "NaN"}]
    assert data.parse_alert_history('[{"step": 1, "value": -1e999}]') == [{"step": 1, "value": "-Infinity"}]
    with pytest.raises(data.UnreadableDataError):
        data.parse_alert_history("{}")
    with pytest.raises(data.UnreadableDataError):
        data.parse_alert_history(b"\xff")


@pytest.mark.parametrize("text", ["", " 1", "1.0", "1e3", "0x1", "١٢", "9223372036854775808", "1" * 30])
def test_integer_parameters_refuse_anything_but_an_int64(text):
    with pytest.raises(errors.InvalidArgumentError, match="'step'"):
        query.optional_int({"step": text}, "step")


def test_names_parameter_keeps_request_order_without_repeats():
    assert query.optional_names({"stats": "b,a,b"}, "stats", ["a", "b", "c"]) == ["b", "a"]


def test_cache_evicts_least_recently_used_within_its_byte_budget():
    cache = ByteBudgetCache(max_bytes=10)
    loads = []

    def loader(key, size):
        return lambda: loads.append(key) or bytes(size)

    cache.get_or_load("a", loader("a", 4), len)
    cache.get_or_load("b", loader("b", 4), len)
    cache.get_or_load("a", loader("a", 4), len)
    cache.get_or_load("c", loader("c", 4), len)
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    cache.get_or_load("huge", loader("huge", 11), len)
    assert "huge" not in cache and loads == ["a", "b", "c", "huge"]
