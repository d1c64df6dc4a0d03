"""Sharded training in the plain-loop API (FSDP2, FSDP1, DTensor placements): 2 gloo ranks against the
same model trained unsharded."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from tb_netviz.summary import ACTIVATIONS_TAG, CLIPPED_GRAD_NORM_TAG, GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tb_netviz.summary.columns import GRADIENT_STATS
from tb_netviz.torch import NetViz
from tb_netviz.torch.capture import HISTOGRAM_TAG_PREFIX
from tb_netviz.torch.gradient_stats import GradientStatistics
from tb_netviz.torch.layers import discover_layers
from tests.sharded import placements_run, plain_loop_run
from tests.sharded.models import batches, probe_tokens, tiny_transformer
from tests.sharded.ranks import run_ranks
from tests.torch_capture.events import Run, event_files

HERE = os.path.dirname(os.path.abspath(__file__))


def unsharded_run(log_dir, histograms: bool = False) -> Run:
    model = tiny_transformer()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    viz = NetViz(
        model,
        log_dir,
        sample_batch=probe_tokens(),
        optimizer=optimizer,
        log_every_n_steps=1,
        sample_every_n_steps=1,
        histograms=histograms,
    )
    plain_loop_run.train(model, viz, optimizer, batches(plain_loop_run.STEPS), rank=0, world=1)
    viz.close()
    return Run(log_dir)


def sharded_run(out, engine: str, *flags: str) -> tuple[Run, list[dict]]:
    run_ranks(os.path.join(HERE, "plain_loop_run.py"), [str(out), engine, *flags])
    reports = []
    for rank in (0, 1):
        with open(out / f"rank{rank}.json") as handle:
            reports.append(json.load(handle))
    return Run(out / "netviz"), reports


@pytest.fixture(scope="session")
def unsharded(tmp_path_factory):
    return unsharded_run(tmp_path_factory.mktemp("unsharded"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, unsharded):
    out = tmp_path_factory.mktemp("fsdp2")
    sharded, reports = sharded_run(out, "fsdp2")
    return sharded, unsharded, reports, out


def assert_tables_equal(logged: dict, expected: dict, rel: float = 1e-5, abs: float = 1e-9) -> None:
    assert list(logged) == list(expected)
    for layer, row in expected.items():
        for stat, value in row.items():
            assert logged[layer][stat] == pytest.approx(value, rel=rel, abs=abs, nan_ok=True), (layer, stat)


def test_every_logged_statistic_per_layer_equals_the_unsharded_run(runs):
    sharded, unsharded, _, _ = runs
    # The model itself owns the 1-element parameter "scale": one of its two FSDP shards is empty.
    assert "TinyTransformer" in unsharded.table(GRADIENT_FLOW_TAG, 0)
    for step in range(plain_loop_run.STEPS):
        assert_tables_equal(sharded.table(GRADIENT_FLOW_TAG, step), unsharded.table(GRADIENT_FLOW_TAG, step))
    for tag in (GLOBAL_GRAD_NORM_TAG, CLIPPED_GRAD_NORM_TAG):
        expected = unsharded.scalars(tag)
        assert sorted(expected) == list(range(plain_loop_run.STEPS))
        assert sharded.scalars(tag) == pytest.approx(expected, rel=1e-5)


def test_gradient_flow_is_measured_before_clipping_and_the_clipped_norm_after(runs):
    sharded, _, _, _ = runs
    for step in range(plain_loop_run.STEPS):
        assert sharded.scalars(GLOBAL_GRAD_NORM_TAG)[step] > plain_loop_run.CLIP
        assert sharded.scalars(CLIPPED_GRAD_NORM_TAG)[step] == pytest.approx(plain_loop_run.CLIP, rel=1e-4)


def test_one_collective_per_logged_step_on_every_rank(runs):
    _, _, reports, _ = runs
    assert [report["collectives"] for report in reports] == [[1] * plain_loop_run.STEPS] * 2


def test_only_rank_zero_writes_one_event_file(runs):
    _, _, reports, out = runs
    assert len(event_files(out / "netviz")) == 1
    assert [report["warnings"] for report in reports] == [[], []]


def test_sample_pass_under_fsdp2_gives_the_unsharded_activations_and_attention(runs):
    sharded, unsharded, _, _ = runs
    for step in range(plain_loop_run.STEPS):
        # A LayerNorm's output mean is ~0 by construction: compared on the scale of its std (~1).
        logged, expected = sharded.table(ACTIVATIONS_TAG, step), unsharded.table(ACTIVATIONS_TAG, step)
        assert_tables_equal(logged, expected, abs=1e-6)
    attention = sorted(tag for tag in unsharded.tags if tag.startswith("netviz/attention/"))
    assert attention == sorted(tag for tag in sharded.tags if tag.startswith("netviz/attention/"))
    assert len(attention) == 2
    for tag in attention:
        for (step, logged), (_, expected) in zip(sharded.values(tag), unsharded.values(tag), strict=True):
            np.testing.assert_allclose(logged, expected, rtol=1e-5, atol=1e-7, err_msg=f"{tag} at {step}")


def test_a_rank_that_fails_its_part_drops_that_step_on_all_ranks_without_a_hang(tmp_path):
    sharded, reports = sharded_run(tmp_path, "fsdp2", "fail")
    logged = [step for step, _ in sharded.values(GRADIENT_FLOW_TAG)]
    assert logged == [0, 2]
    assert [report["collectives"] for report in reports] == [[1] * plain_loop_run.STEPS] * 2
    for report in reports:
        assert len(report["warnings"]) == 1
        assert "step 1" in report["warnings"][0] and "rank(s) [1]" in report["warnings"][0]
    assert "unreadable" in reports[1]["warnings"][0]


def test_shard_on_any_dim_is_summed_and_replicate_counted_once(tmp_path):
    run_ranks(os.path.join(HERE, "placements_run.py"), [str(tmp_path)])
    with open(tmp_path / "placements.json") as handle:
        measured = json.load(handle)
    torch.manual_seed(0)
    layer = nn.Linear(5, 6)
    layer.weight.grad, layer.bias.grad = placements_run.gradients()
    stats = GradientStatistics(discover_layers(layer))
    expected = stats.finish(stats.measure())
    np.testing.assert_allclose(measured["values"], expected.values, rtol=1e-6)
    assert measured["global_norm"] == pytest.approx(expected.global_norm, rel=1e-6)
    assert measured["values"][0][GRADIENT_STATS.index("has_grad")] == 1.0


def test_fsdp1_with_orig_params_and_auto_wrap_equals_the_unsharded_run_with_unwrapped_names(
    tmp_path, unsharded
):
    sharded, reports = sharded_run(tmp_path, "fsdp1")
    assert not any("_fsdp_wrapped_module" in layer for layer in sharded.content(GRADIENT_FLOW_TAG)["layers"])
    for step in range(plain_loop_run.STEPS):
        assert_tables_equal(sharded.table(GRADIENT_FLOW_TAG, step), unsharded.table(GRADIENT_FLOW_TAG, step))
        logged, expected = sharded.table(ACTIVATIONS_TAG, step), unsharded.table(ACTIVATIONS_TAG, step)
        assert_tables_equal(logged, expected, abs=1e-6)
    for tag in (GLOBAL_GRAD_NORM_TAG, CLIPPED_GRAD_NORM_TAG):
        assert sharded.scalars(tag) == pytest.approx(unsharded.scalars(tag), rel=1e-5)
    assert [report["collectives"] for report in reports] == [[1] * plain_loop_run.STEPS] * 2
    assert len(event_files(tmp_path / "netviz")) == 1


def test_fsdp1_without_orig_params_warns_once_and_logs_the_global_norm_only(tmp_path, unsharded):
    sharded, reports = sharded_run(tmp_path, "fsdp1_flat")
    assert GRADIENT_FLOW_TAG not in sharded.tags and ACTIVATIONS_TAG not in sharded.tags
    for tag in (GLOBAL_GRAD_NORM_TAG, CLIPPED_GRAD_NORM_TAG):
        assert sharded.scalars(tag) == pytest.approx(unsharded.scalars(tag), rel=1e-5)
    assert [report["collectives"] for report in reports] == [[1] * plain_loop_run.STEPS] * 2
    assert len(reports[0]["warnings"]) == 1 and "need use_orig_params=True" in reports[0]["warnings"][0]
    assert reports[1]["warnings"] == []


def test_histograms_under_fsdp2_with_clipping_are_those_of_the_unsharded_weights_and_gradients(tmp_path):
    """Clipping defers the combining to the optimizer step: the histograms are still of the
    gradients before clipping and of the weights before the step, with two collectives a step."""
    sharded, reports = sharded_run(tmp_path, "fsdp2", "histograms")
    expected = unsharded_run(tmp_path / "unsharded", histograms=True)
    assert [report["collectives"] for report in reports] == [[2] * plain_loop_run.STEPS] * 2
    tags = sorted(tag for tag in expected.tags if tag.startswith(HISTOGRAM_TAG_PREFIX))
    assert tags == sorted(tag for tag in sharded.tags if tag.startswith(HISTOGRAM_TAG_PREFIX))
    assert any("/gradients/" in tag for tag in tags) and any("/weights/" in tag for tag in tags)
    for tag in tags:
        for (step, buckets), (_, reference) in zip(sharded.values(tag), expected.values(tag), strict=True):
            assert_same_buckets(buckets, reference, f"{tag} at step {step}")
    assert [report["warnings"] for report in reports] == [[], []]


def assert_same_buckets(buckets: np.ndarray, reference: np.ndarray, what: str) -> None:
    """The same counts in the same buckets; the edges come from the whole tensor's min and max,
    which differ from an unsharded run's by the float32 rounding of the reduced gradients (~1e-7),
    so they are compared on the scale of the histogram's width."""
    assert buckets.shape == reference.shape, what
    width = float(reference[-1, 1] - reference[0, 0])
    np.testing.assert_allclose(buckets[:, :2], reference[:, :2], rtol=1e-5, atol=1e-5 * width, err_msg=what)
    np.testing.assert_array_equal(buckets[:, 2], reference[:, 2], err_msg=what)
