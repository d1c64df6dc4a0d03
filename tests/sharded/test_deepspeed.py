"""DeepSpeed ZeRO-2 and ZeRO-3 in the plain-loop API: 2 gloo ranks against the same model trained
unsharded."""

from __future__ import annotations

import os

import pytest
import torch

from tb_netviz.summary import ACTIVATIONS_TAG, GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tb_netviz.torch import NetViz
from tests.sharded import deepspeed_run
from tests.sharded.models import batches, loss_of, probe_tokens, tiny_transformer
from tests.sharded.ranks import run_ranks
from tests.sharded.test_plain_loop import assert_tables_equal
from tests.torch_capture.events import Run, event_files

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory) -> Run:
    """The same model, data and SGD in one process, without clipping, as the DeepSpeed runs."""
    log_dir = tmp_path_factory.mktemp("unsharded_sgd")
    model = tiny_transformer()
    optimizer = torch.optim.SGD(model.parameters(), lr=deepspeed_run.LEARNING_RATE)
    with NetViz(
        model, log_dir, sample_batch=probe_tokens(), log_every_n_steps=1, sample_every_n_steps=1
    ) as viz:
        for step, (tokens, targets) in enumerate(batches(deepspeed_run.STEPS)):
            optimizer.zero_grad()
            loss_of(model, tokens, targets).backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)
    return Run(log_dir)


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_stage_logs_the_unsharded_statistics_from_this_ranks_fragments(stage, tmp_path, unsharded):
    run_ranks(os.path.join(HERE, "deepspeed_run.py"), [str(tmp_path), str(stage)], timeout=420)
    assert len(event_files(tmp_path / "netviz")) == 1
    sharded = Run(tmp_path / "netviz")
    for step in range(deepspeed_run.STEPS):
        assert_tables_equal(sharded.table(GRADIENT_FLOW_TAG, step), unsharded.table(GRADIENT_FLOW_TAG, step))
        logged, expected = sharded.table(ACTIVATIONS_TAG, step), unsharded.table(ACTIVATIONS_TAG, step)
        assert_tables_equal(logged, expected, abs=1e-6)
    assert sharded.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(
        unsharded.scalars(GLOBAL_GRAD_NORM_TAG), rel=1e-5
    )
