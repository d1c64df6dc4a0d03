"""NetVizCallback in the Hugging Face Trainer, one process: accumulation, clipping, the run directory.

The multi-process runs (DDP, DeepSpeed) are in test_trainer_sharded."""

from __future__ import annotations

import glob
import os
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers

from tb_netviz.hf import NetVizCallback
from tb_netviz.hf.callback import _unsupported_engine
from tb_netviz.summary import ACTIVATIONS_TAG, CLIPPED_GRAD_NORM_TAG, GLOBAL_GRAD_NORM_TAG, GRADIENT_FLOW_TAG
from tb_netviz.torch.distributed import Sharding
from tb_netviz.torch.shards import deepspeed_piece, flat_piece
from tests.hf.trainer_setup import MAX_GRAD_NORM, TokenData, arguments, probe_batch, tiny_gpt2, train
from tests.torch_capture.events import Run


def netviz() -> NetVizCallback:
    return NetVizCallback(sample_batch=probe_batch(), log_every_n_steps=1, sample_every_n_steps=1)


@pytest.fixture(scope="module")
def accumulated(tmp_path_factory):
    """One process, gradient_accumulation_steps=2, clipping to MAX_GRAD_NORM, 2 steps."""
    out = tmp_path_factory.mktemp("trainer")
    callback = netviz()
    trainer = train(str(out), [callback], accumulation=2, max_steps=2)
    return trainer, callback, Run(callback.log_dir), out


def reference_rows() -> dict[str, dict[str, float]]:
    """Per-layer statistics, by numpy, of the gradient of the first optimizer step, before any clipping.

    Over its two micro-batches (sequences 0-3 and 4-7) the Trainer sums the token losses and divides
    by ``num_items_in_batch``, which counts every label entry (8 a sequence) while the shifted loss
    has 7 targets a sequence: the gradient of the mean token loss over the 8 sequences, times 7/8.
    """
    model = tiny_gpt2()
    ids = TokenData().ids[:8]
    targets, label_entries = ids.shape[0] * (ids.shape[1] - 1), ids.numel()
    (model(input_ids=ids, labels=ids).loss * targets / label_entries).backward()
    rows, seen = {}, set()  # lm_head's weight is tied to (and counted with) transformer.wte
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.grad is not None and id(p) not in seen]
        seen.update(id(p) for p in own)
        if own:
            grads = np.concatenate([p.grad.numpy().ravel() for p in own]).astype(np.float64)
            weights = np.concatenate([p.detach().numpy().ravel() for p in own]).astype(np.float64)
            rows[name or type(model).__name__] = {
                "grad_l2": np.sqrt((grads**2).sum()),
                "grad_mean_abs": np.abs(grads).mean(),
                "grad_max_abs": np.abs(grads).max(),
                "param_l2": np.sqrt((weights**2).sum()),
            }
    return rows


def test_statistics_are_of_the_accumulated_unclipped_gradient(accumulated):
    _, _, run, _ = accumulated
    logged = run.table(GRADIENT_FLOW_TAG, 0)
    expected = reference_rows()
    assert sorted(logged) == sorted(expected)
    for layer, row in expected.items():
        for stat, value in row.items():
            assert logged[layer][stat] == pytest.approx(value, rel=1e-5), (layer, stat)


def test_global_norm_is_the_trainers_pre_clip_norm_and_the_clipped_norm_is_logged(accumulated):
    trainer, _, run, _ = accumulated
    trainer_norms = {
        entry["step"] - 1: entry["grad_norm"] for entry in trainer.state.log_history if "grad_norm" in entry
    }
    assert sorted(trainer_norms) == [0, 1]
    assert run.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(trainer_norms, rel=1e-5)
    assert all(norm > MAX_GRAD_NORM for norm in trainer_norms.values())
    assert run.scalars(CLIPPED_GRAD_NORM_TAG) == pytest.approx({0: MAX_GRAD_NORM, 1: MAX_GRAD_NORM}, rel=1e-4)


def test_netviz_joins_the_trainers_tensorboard_run_and_gives_max_grad_norm_back(accumulated):
    trainer, callback, run, out = accumulated
    trainer_events = [
        path
        for path in glob.glob(str(out / "runs" / "*" / "events.out.tfevents.*"))
        if not path.endswith(".netviz")
    ]
    assert len(trainer_events) == 1
    assert os.path.dirname(trainer_events[0]) == callback.log_dir
    assert trainer.args.max_grad_norm == MAX_GRAD_NORM
    assert [step for step, _ in run.values(ACTIVATIONS_TAG)] == [0, 1]
    assert sorted(tag for tag in run.tags if tag.startswith("netviz/attention/")) == [
        "netviz/attention/transformer.h.0.attn",
        "netviz/attention/transformer.h.1.attn",
    ]


def netviz_writer_threads() -> int:
    return sum(thread.name == "tb-netviz-writer" for thread in threading.enumerate())


class FailsOnce(transformers.TrainerCallback):
    """Raises in the first training step it sees, as an error in the user's code would."""

    def __init__(self) -> None:
        self.failed = False

    def on_step_begin(self, args, state, control, **kwargs):
        if not self.failed:
            self.failed = True
            raise RuntimeError("the user's step failed")


def test_a_train_that_raised_does_not_leave_the_next_train_unclipped(tmp_path):
    callback = netviz()
    trainer = transformers.Trainer(
        tiny_gpt2(),
        arguments(str(tmp_path), 2, 2),
        train_dataset=TokenData(),
        callbacks=[callback, FailsOnce()],
    )
    writers_before = netviz_writer_threads()
    with pytest.raises(RuntimeError, match="the user's step failed"):
        trainer.train()
    assert trainer.args.max_grad_norm == 0.0  # the Trainer gives no callback a chance to restore it here
    trainer.train()
    assert trainer.args.max_grad_norm == MAX_GRAD_NORM
    assert netviz_writer_threads() == writers_before  # the aborted run's writer was closed, not left open
    clipped = Run(callback.log_dir).scalars(CLIPPED_GRAD_NORM_TAG)
    assert clipped == pytest.approx({0: MAX_GRAD_NORM, 1: MAX_GRAD_NORM}, rel=1e-4)


def test_training_with_the_callback_ends_with_the_same_weights_as_without(accumulated, tmp_path):
    with_callback, _, _, _ = accumulated
    without = train(str(tmp_path), [], accumulation=2, max_steps=2)
    for (name, ours), (_, theirs) in zip(
        with_callback.model.state_dict().items(), without.model.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7, msg=name)


def test_under_fp16_loss_scaling_the_statistics_are_of_the_unscaled_gradients(tmp_path):
    # On CPU accelerate makes no GradScaler for fp16 (it scales only on GPU-type devices), so the
    # Trainer's own scaler path is driven here with torch's CPU GradScaler at a scale of 1024:
    # scaled loss in backward, unscale_ in the Trainer's norm, then the scaler's step.
    callback = netviz()
    trainer = transformers.Trainer(
        tiny_gpt2(),
        arguments(str(tmp_path), 2, 2, fp16=True),
        train_dataset=TokenData(),
        callbacks=[callback],
    )
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1000)
    trainer.accelerator.native_amp = True
    trainer.train()
    assert trainer.accelerator.scaler.get_scale() == 1024.0  # no step skipped for an overflow
    trainer_norms = {
        entry["step"] - 1: entry["grad_norm"] for entry in trainer.state.log_history if "grad_norm" in entry
    }
    run = Run(callback.log_dir)
    assert run.scalars(GLOBAL_GRAD_NORM_TAG) == pytest.approx(trainer_norms, rel=1e-5)
    for step, norm in trainer_norms.items():
        rows = run.table(GRADIENT_FLOW_TAG, step)
        assert np.sqrt(sum(row["grad_l2"] ** 2 for row in rows.values())) == pytest.approx(norm, rel=1e-5)
    assert run.scalars(CLIPPED_GRAD_NORM_TAG) == pytest.approx({0: MAX_GRAD_NORM, 1: MAX_GRAD_NORM}, rel=1e-4)


class ZeroOptimizerStandIn:
    """Stands for DeepSpeed's ZeRO optimizer, recognised by the module of its type."""


ZeroOptimizerStandIn.__module__ = "deepspeed.runtime.zero.stage_1_and_2"


def test_engines_netviz_does_not_read_are_named_in_the_warning_and_the_cpu_fsdp_fallback_is_logged():
    fsdp2 = Sharding("FSDP2 / DTensor", 0, flat_piece)
    fsdp_args = SimpleNamespace(fsdp=True, deepspeed=None)
    assert "FSDP integration" in _unsupported_engine(fsdp_args, fsdp2, None)
    assert _unsupported_engine(fsdp_args, None, None) is None  # accelerate dropped the plugin: DDP
    stage0 = SimpleNamespace(fsdp=None, deepspeed={"zero_optimization": {"stage": 0}}, fp16=False)
    wrapped = SimpleNamespace(optimizer=ZeroOptimizerStandIn())  # accelerate's DeepSpeedOptimizerWrapper
    assert "without ZeRO partitioning" in _unsupported_engine(stage0, None, wrapped)
    zero = Sharding("DeepSpeed ZeRO", 0, deepspeed_piece)
    stage2 = SimpleNamespace(fsdp=None, deepspeed={"zero_optimization": {"stage": 2}}, fp16=False)
    assert _unsupported_engine(stage2, zero, wrapped) is None
    fp16 = SimpleNamespace(fsdp=None, deepspeed={"fp16": {"enabled": True}}, fp16=True)
    assert "multiplied by the loss scale" in _unsupported_engine(fp16, zero, wrapped)
