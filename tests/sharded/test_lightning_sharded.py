"""NetVizCallback under Lightning's sharding strategies, 2 gloo ranks against one unsharded process."""

from __future__ import annotations

import os

import pytest

from tb_netviz.summary import ACTIVATIONS_TAG, GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tests.sharded import lightning_run
from tests.sharded.ranks import run_ranks
from tests.sharded.test_plain_loop import assert_tables_equal
from tests.torch_capture.events import Run, event_files

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("lightning_plain")
    lightning_run.fit(str(out), "plain", rank=0, world=1)
    return Run(out / "netviz")


def sharded_fit(out, engine: str) -> Run:
    run_ranks(os.path.join(HERE, "lightning_run.py"), [str(out), engine])
    assert len(event_files(out / "netviz")) == 1  # rank zero alone writes
    return Run(out / "netviz")


def assert_same_run(sharded: Run, unsharded: Run) -> None:
    assert "net" in unsharded.table(GRADIENT_FLOW_TAG, 0)  # owns the 1-element parameter: one shard empty
    for step in range(lightning_run.STEPS):
        assert_tables_equal(sharded.table(GRADIENT_FLOW_TAG, step), unsharded.table(GRADIENT_FLOW_TAG, step))
    assert sharded.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(
        unsharded.scalars(GLOBAL_GRAD_NORM_TAG), rel=1e-5
    )
    assert [step for step, _ in sharded.values(ACTIVATIONS_TAG)] == list(range(lightning_run.STEPS))
    for step in range(lightning_run.STEPS):
        # A LayerNorm's output mean is ~0 by construction: compared on the scale of its std (~1).
        logged, expected = sharded.table(ACTIVATIONS_TAG, step), unsharded.table(ACTIVATIONS_TAG, step)
        assert_tables_equal(logged, expected, abs=1e-6)


def test_model_parallel_strategy_with_fully_shard_logs_the_unsharded_statistics(tmp_path, unsharded):
    assert_same_run(sharded_fit(tmp_path, "model_parallel"), unsharded)


def test_fsdp_strategy_on_cpu_logs_the_unsharded_statistics_under_unwrapped_names(tmp_path, unsharded):
    sharded = sharded_fit(tmp_path, "fsdp")
    assert not any("_fsdp_wrapped_module" in name for name in sharded.content(GRADIENT_FLOW_TAG)["layers"])
    assert_same_run(sharded, unsharded)
