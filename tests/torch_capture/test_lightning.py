"""NetVizCallback in Lightning's Trainer: where it writes, which gradients it sees, what it leaves."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy, FSDPStrategy

from tb_netviz.summary import (
    ACTIVATIONS_TAG,
    CLIPPED_GRAD_NORM_TAG,
    GLOBAL_GRAD_NORM_TAG,
    GRADIENT_FLOW_TAG,
    NetVizWriteWarning,
)
from tb_netviz.torch import NetVizCallback, SampleBatchError
from tb_netviz.torch.lightning_callback import sharding_strategy
from tests.torch_capture.events import Run, event_files
from tests.torch_capture.lightning_models import Classifier, RecordGradients, classifier_data, trainer
from tests.torch_capture.models import reference_gradient_rows
from tests.torch_capture.test_gradient_flow import assert_rows_match
from tests.torch_capture.test_sample_pass import all_hooks

HERE = os.path.dirname(os.path.abspath(__file__))


def loader(batch_size: int = 8, count: int = 64):
    return torch.utils.data.DataLoader(classifier_data(count), batch_size=batch_size)


def test_writes_into_the_tensorboard_logger_run_with_reference_statistics(tmp_path):
    sample = classifier_data(4).tensors[0]
    reference = RecordGradients()
    callback = NetVizCallback(sample_batch=sample, log_every_n_steps=2, sample_every_n_steps=2)
    logger = TensorBoardLogger(str(tmp_path), name="exp")
    model = Classifier()
    trainer(tmp_path, [reference, callback], logger=logger, max_steps=5).fit(model, loader())
    assert callback.log_dir == logger.log_dir
    run = Run(logger.log_dir)
    assert [step for step, _ in run.values(GRADIENT_FLOW_TAG)] == [0, 2, 4]
    assert run.content(GRADIENT_FLOW_TAG)["layers"] == ["conv", "head"]
    for step in (0, 2, 4):
        assert_rows_match(run.table(GRADIENT_FLOW_TAG, step), reference.rows[step])
    assert [step for step, _ in run.values(ACTIVATIONS_TAG)] == [0, 2, 4]
    assert "netviz/feature_maps/conv" in run.tags
    assert all_hooks(model) == []
    pickle.dumps(model)


def test_without_a_tensorboard_logger_writes_to_default_root_dir(tmp_path):
    callback = NetVizCallback(log_every_n_steps=1)
    trainer(tmp_path, [callback], max_steps=2).fit(Classifier(), loader())
    assert callback.log_dir == str(tmp_path)
    assert [step for step, _ in Run(tmp_path).values(GRADIENT_FLOW_TAG)] == [0, 1]


def test_clipping_logs_unclipped_statistics_and_clipped_global_norm(tmp_path):
    reference = RecordGradients()
    callback = NetVizCallback(log_every_n_steps=1)
    trainer(tmp_path, [reference, callback], max_steps=3, gradient_clip_val=0.05).fit(Classifier(), loader())
    run = Run(tmp_path)
    for step in range(3):
        assert_rows_match(run.table(GRADIENT_FLOW_TAG, step), reference.rows[step])
        unclipped = math.sqrt(sum(row["grad_l2"] ** 2 for row in reference.rows[step].values()))
        assert unclipped > 0.05
        assert run.scalars(GLOBAL_GRAD_NORM_TAG)[step] == pytest.approx(unclipped, rel=1e-5)
    assert run.scalars(CLIPPED_GRAD_NORM_TAG) == pytest.approx({0: 0.05, 1: 0.05, 2: 0.05}, rel=1e-3)


def test_gradient_accumulation_logs_once_per_optimizer_step_with_accumulated_gradients(tmp_path):
    reference = RecordGradients()
    callback = NetVizCallback(log_every_n_steps=1)
    trainer(tmp_path, [reference, callback], max_steps=3, accumulate_grad_batches=2).fit(
        Classifier(), loader(batch_size=4)
    )
    run = Run(tmp_path)
    assert [step for step, _ in run.values(GRADIENT_FLOW_TAG)] == [0, 1, 2]
    for step in range(3):
        assert_rows_match(run.table(GRADIENT_FLOW_TAG, step), reference.rows[step])


def test_bf16_mixed_precision(tmp_path):
    reference = RecordGradients()
    callback = NetVizCallback(sample_batch=classifier_data(4).tensors[0], log_every_n_steps=1)
    trainer(tmp_path, [reference, callback], max_steps=2, precision="bf16-mixed").fit(Classifier(), loader())
    run = Run(tmp_path)
    for step in range(2):
        assert_rows_match(run.table(GRADIENT_FLOW_TAG, step), reference.rows[step])
    assert set(run.table(ACTIVATIONS_TAG, 0)) == {"conv", "head"}


def test_bad_sample_batch_stops_fit_before_training(tmp_path):
    callback = NetVizCallback(sample_batch=torch.randn(2, 3))
    model = Classifier()
    before = model.head.weight.detach().clone()
    with pytest.raises(SampleBatchError, match="sample_batch cannot be run through Classifier"):
        trainer(tmp_path, [callback]).fit(model, loader())
    assert torch.equal(model.head.weight, before)
    assert event_files(tmp_path) == []


def test_options_are_validated_at_construction():
    with pytest.raises(ValueError, match="log_every_n_steps must be >= 1"):
        NetVizCallback(log_every_n_steps=0)


def test_ddp_two_processes_one_writer_with_synchronised_gradients(tmp_path):
    script = os.path.join(HERE, "ddp_run.py")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(HERE)))
    result = subprocess.run(
        [sys.executable, script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    netviz_files = [f for f in event_files(tmp_path / "netviz") if f.endswith(".netviz")]
    assert len(netviz_files) == 1
    model = Classifier()
    model.load_state_dict(torch.load(tmp_path / "initial.pt"))
    (x0, y0), (x1, y1) = (torch.load(tmp_path / f"batch{rank}.pt") for rank in (0, 1))
    assert not torch.equal(x0, x1)
    # DDP averages the ranks' gradients: the gradient of the mean loss over both batches.
    loss = (
        torch.nn.functional.cross_entropy(model(x0), y0) + torch.nn.functional.cross_entropy(model(x1), y1)
    ) / 2
    loss.backward()
    assert_rows_match(
        Run(tmp_path / "netviz").table(GRADIENT_FLOW_TAG, 0), reference_gradient_rows(model), rtol=1e-4
    )


def test_fsdp_and_deepspeed_count_as_sharding_and_a_name_alone_does_not():
    class MyDeepSpeedFreeDDP(DDPStrategy):
        pass

    assert sharding_strategy(FSDPStrategy()) == "FSDPStrategy"
    assert sharding_strategy(DDPStrategy()) is None
    assert sharding_strategy(MyDeepSpeedFreeDDP()) is None
    assert sharding_strategy(DeepSpeedStrategy.__new__(DeepSpeedStrategy)) == "DeepSpeedStrategy"


def test_deepspeed_in_fp16_is_refused_with_one_warning_since_its_gradients_are_loss_scaled():
    from types import SimpleNamespace

    from tb_netviz.torch.distributed import DEEPSPEED_FP16_REASON

    strategy = DeepSpeedStrategy(config={"fp16": {"enabled": True}, "zero_optimization": {"stage": 2}})
    fake_trainer = SimpleNamespace(strategy=strategy, is_global_zero=True)
    callback = NetVizCallback()
    with pytest.warns(NetVizWriteWarning, match="multiplied by the loss scale") as said:
        assert callback._sharding(fake_trainer, torch.nn.Linear(2, 2)) is False
    assert len(said) == 1 and DEEPSPEED_FP16_REASON in str(said[0].message)
    bf16 = DeepSpeedStrategy(config={"bf16": {"enabled": True}, "zero_optimization": {"stage": 2}})
    bf16_trainer = SimpleNamespace(strategy=bf16, is_global_zero=True)
    assert callback._sharding(bf16_trainer, torch.nn.Linear(2, 2)) is None
