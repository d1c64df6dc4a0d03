"""NetVizCallback under Lightning's sharding strategies (ModelParallel, FSDP, DeepSpeed ZeRO-2/3),
2 gloo ranks against one unsharded process; the collectives tb_netviz issues per step counted."""

from __future__ import annotations

import json
import os

import pytest

from tb_netviz.summary import ACTIVATIONS_TAG, GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tb_netviz.torch.capture import HISTOGRAM_TAG_PREFIX
from tests.sharded import lightning_run
from tests.sharded.ranks import run_ranks
from tests.sharded.test_plain_loop import assert_same_buckets, assert_tables_equal
from tests.torch_capture.events import Run, event_files

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ["model_parallel", "fsdp", "deepspeed2", "deepspeed3"]


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory) -> dict[str, Run]:
    """Each fit of ``lightning_run.FITS`` in one process without a strategy."""
    out = tmp_path_factory.mktemp("lightning_plain")
    for name, options in lightning_run.FITS.items():
        lightning_run.fit(str(out / name), "plain", rank=0, world=1, **options)
    return {name: Run(out / name) for name in lightning_run.FITS}


@pytest.fixture(scope="module", params=ENGINES)
def sharded(request, tmp_path_factory) -> tuple[str, dict[str, Run], list[dict]]:
    """One launch of 2 ranks under the engine: its runs by fit, and each rank's report."""
    out = tmp_path_factory.mktemp(request.param)
    # DeepSpeed's first start in a fresh venv compiles its communication op (about 2 minutes).
    run_ranks(os.path.join(HERE, "lightning_run.py"), [str(out), request.param], timeout=480)
    reports = []
    for rank in (0, 1):
        with open(out / f"rank{rank}.json") as handle:
            reports.append(json.load(handle))
    for name in lightning_run.FITS:
        assert len(event_files(out / name)) == 1  # rank zero alone writes
    return request.param, {name: Run(out / name) for name in lightning_run.FITS}, reports


def assert_same_rows(run: Run, expected: Run, tag: str, steps, **tolerance) -> None:
    for step in steps:
        assert_tables_equal(run.table(tag, step), expected.table(tag, step), **tolerance)


def test_every_logged_statistic_and_activation_equals_the_unsharded_run(sharded, unsharded):
    engine, runs, reports = sharded
    if engine == "fsdp":
        layers = runs["histograms"].content(GRADIENT_FLOW_TAG)["layers"]
        assert not any("_fsdp_wrapped_module" in name for name in layers)
    for name, options in lightning_run.FITS.items():
        logged = list(range(0, lightning_run.STEPS, options["log_every_n_steps"]))
        run, expected = runs[name], unsharded[name]
        assert "net" in expected.table(GRADIENT_FLOW_TAG, 0)  # owns the 1-element parameter: one shard empty
        assert [step for step, _ in run.values(GRADIENT_FLOW_TAG)] == logged
        if engine.startswith("deepspeed") and options["accumulate_grad_batches"] > 1:
            # Lightning divides the loss by accumulate_grad_batches and DeepSpeed's engine.backward
            # divides it again: the gradients DeepSpeed steps with are not the unsharded fit's.
            # They are DeepSpeed's own, whose norm the engine reports after its step.
            engine_norms = reports[0][name]["engine_norms"]
            assert [engine_norms[step] for step in logged] == pytest.approx(
                [run.scalars(GLOBAL_GRAD_NORM_TAG)[step] for step in logged], rel=1e-5
            )
        else:
            assert_same_rows(run, expected, GRADIENT_FLOW_TAG, logged)
            assert run.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(
                expected.scalars(GLOBAL_GRAD_NORM_TAG), rel=1e-5
            )
            # A LayerNorm's output mean is ~0 by construction: compared on the scale of its std (~1).
            assert_same_rows(run, expected, ACTIVATIONS_TAG, range(lightning_run.STEPS), abs=1e-6)
        assert [step for step, _ in run.values(ACTIVATIONS_TAG)] == list(range(lightning_run.STEPS))
    assert [report[name]["warnings"] for report in reports for name in lightning_run.FITS] == [[]] * 4


def test_the_hook_reads_each_optimizer_step_once_before_it_is_taken(sharded):
    engine, runs, reports = sharded
    for name in lightning_run.FITS:
        assert sorted(runs[name].scalars(GLOBAL_GRAD_NORM_TAG)) == list(
            range(0, lightning_run.STEPS, lightning_run.FITS[name]["log_every_n_steps"])
        )
    if engine.startswith("deepspeed"):
        # Under DeepSpeed on_before_optimizer_step runs before every micro-batch's engine.step; at
        # the accumulation boundary, the engine has taken exactly the steps before this one.
        for report in reports:
            for name in lightning_run.FITS:
                assert report[name]["engine_steps_in_hook"] == list(range(lightning_run.STEPS))
                assert len(report[name]["engine_norms"]) == lightning_run.STEPS


def test_one_collective_per_logged_step_none_between_and_two_with_histograms(sharded):
    _, _, reports = sharded
    for report in reports:
        # Per batch: 2 batches per optimizer step, gradient flow at steps 0 and 2 (batches 1 and 5).
        assert report["counted"]["collectives"] == [0, 1, 0, 0, 0, 1]
        assert report["histograms"]["collectives"] == [2] * lightning_run.STEPS


def test_weight_and_gradient_histograms_equal_the_unsharded_ones_bucket_for_bucket(sharded, unsharded):
    _, runs, _ = sharded
    run, expected = runs["histograms"], unsharded["histograms"]
    tags = sorted(tag for tag in expected.tags if tag.startswith(HISTOGRAM_TAG_PREFIX))
    assert tags == sorted(tag for tag in run.tags if tag.startswith(HISTOGRAM_TAG_PREFIX))
    layers = expected.content(GRADIENT_FLOW_TAG)["layers"]
    for kind in ("weights", "gradients"):
        assert {f"{HISTOGRAM_TAG_PREFIX}{kind}/{layer}" for layer in layers} <= set(tags)
    for tag in tags:
        pairs = list(zip(run.values(tag), expected.values(tag), strict=True))
        assert [step for (step, _), _ in pairs] == list(range(lightning_run.STEPS))
        for (step, buckets), (_, reference) in pairs:
            assert_same_buckets(buckets, reference, f"{tag} at step {step}")
    assert runs["counted"].tags.isdisjoint(tags)
