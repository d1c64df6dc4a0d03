"""NetVizCallback with the Trainer on 2 gloo ranks (DDP, the fsdp argument, DeepSpeed ZeRO-1, -2 and -3)
against one process that accumulates the same two batches per step; the collectives tb_netviz calls."""

from __future__ import annotations

import json
import os

import pytest

from tb_netviz.hf import NetVizCallback
from tb_netviz.summary import ACTIVATIONS_TAG, CLIPPED_GRAD_NORM_TAG, GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tests.hf import trainer_run
from tests.hf.trainer_setup import MAX_GRAD_NORM, probe_batch, train
from tests.sharded.ranks import run_ranks
from tests.sharded.test_plain_loop import assert_tables_equal
from tests.torch_capture.events import Run, event_files

HERE = os.path.dirname(os.path.abspath(__file__))
LOGGED = list(range(0, trainer_run.STEPS, trainer_run.LOG_EVERY))


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process, gradient_accumulation_steps=2, every step logged; and the Trainer's grad_norm."""
    out = tmp_path_factory.mktemp("single")
    callback = NetVizCallback(sample_batch=probe_batch(), log_every_n_steps=1, sample_every_n_steps=1)
    trainer = train(str(out), [callback], accumulation=2, max_steps=trainer_run.STEPS)
    norms = {e["step"] - 1: e["grad_norm"] for e in trainer.state.log_history if "grad_norm" in e}
    return Run(callback.log_dir), norms


def ranks_run(out, engine: str) -> tuple[Run, list[dict]]:
    run_ranks(os.path.join(HERE, "trainer_run.py"), [str(out), engine], timeout=420)
    reports = []
    for rank in (0, 1):
        with open(out / f"rank{rank}.json") as handle:
            reports.append(json.load(handle))
    assert len(event_files(out / "netviz")) == 1
    return Run(out / "netviz"), reports


def assert_logs_what_one_process_logs(run: Run, single: Run) -> None:
    assert [step for step, _ in run.values(GRADIENT_FLOW_TAG)] == LOGGED
    for step in LOGGED:
        assert_tables_equal(run.table(GRADIENT_FLOW_TAG, step), single.table(GRADIENT_FLOW_TAG, step))
    expected_norms = {step: single.scalars(GLOBAL_GRAD_NORM_TAG)[step] for step in LOGGED}
    assert run.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(expected_norms, rel=1e-5)
    # The sample pass runs after each update; DeepSpeed updates its fp32 partitions in an order of
    # its own, so the weights differ by rounding (~1e-7) and activation means near 0 (LayerNorm's,
    # by construction) are compared on the scale of the activations' spread (~1).
    for step in range(trainer_run.STEPS):
        logged, expected = run.table(ACTIVATIONS_TAG, step), single.table(ACTIVATIONS_TAG, step)
        assert_tables_equal(logged, expected, abs=1e-5)


def test_ddp_logs_what_one_process_accumulating_two_batches_logs_and_calls_no_collective(single, tmp_path):
    run, reports = ranks_run(tmp_path, "ddp")
    assert_logs_what_one_process_logs(run, single[0])
    expected_clipped = {step: single[0].scalars(CLIPPED_GRAD_NORM_TAG)[step] for step in LOGGED}
    assert run.scalars(CLIPPED_GRAD_NORM_TAG) == pytest.approx(expected_clipped, rel=1e-5)
    # DDP's gradients are whole and averaged on every rank: rank zero measures them alone.
    assert [report["collectives"] for report in reports] == [[0] * trainer_run.STEPS] * 2
    assert [report["warnings"] for report in reports] == [[], []]


def test_the_fsdp_argument_on_cpu_trains_ddp_and_netviz_says_so_and_logs_it(single, tmp_path):
    run, reports = ranks_run(tmp_path, "fsdp")
    assert reports[0]["distributed_type"] == "DistributedType.MULTI_CPU"
    assert_logs_what_one_process_logs(run, single[0])
    assert len(reports[0]["warnings"]) == 1 and "on CPU the Trainer runs DDP" in reports[0]["warnings"][0]
    assert reports[1]["warnings"] == []


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_deepspeed_zero_logs_the_unclipped_statistics_with_one_collective_per_logged_step(
    stage, single, tmp_path
):
    run, reports = ranks_run(tmp_path, f"zero{stage}")
    assert reports[0]["distributed_type"] == "DistributedType.DEEPSPEED"
    assert_logs_what_one_process_logs(run, single[0])
    # Measured before DeepSpeed clips: the norm the Trainer reports (DeepSpeed's own, pre-clip).
    trainer_norms = {step: reports[0]["grad_norm"][str(step)] for step in LOGGED}
    assert run.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(trainer_norms, rel=1e-5)
    assert all(norm > MAX_GRAD_NORM for norm in trainer_norms.values())
    assert CLIPPED_GRAD_NORM_TAG not in run.tags  # DeepSpeed frees the clipped gradients in its step
    per_step = [1 if step in LOGGED else 0 for step in range(trainer_run.STEPS)]
    assert [report["collectives"] for report in reports] == [per_step] * 2
    assert [report["collectives_after"] for report in reports] == [0, 0]
    assert [report["warnings"] for report in reports] == [[], []]
    assert [report["optimizer_left_as_found"] for report in reports] == [True, True]
