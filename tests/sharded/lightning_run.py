"""NetVizCallback under a sharding Lightning strategy on gloo ranks; run by test_lightning_sharded.

``python lightning_run.py OUT ENGINE``, ENGINE ``model_parallel``
(``ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1)``, ``fully_shard`` per
block and on the network in ``configure_model``), ``fsdp`` (``FSDPStrategy`` on CPU, the
network wrapped in ``configure_model``), ``deepspeed2`` or ``deepspeed3`` (``DeepSpeedStrategy``
with ZeRO stage 2 or 3 on CPU, see ``CPUDeepSpeedStrategy``). The ranks are started by
``ranks.run_ranks`` (Lightning sees ``LOCAL_RANK`` and launches nothing itself); each trains on
its half of every batch of ``models.batches``.

Each launch runs the fits of ``FITS`` one after the other, fit NAME logging to ``OUT/NAME``, and
writes ``OUT/rank<r>.json``: per fit, the collectives tb_netviz issued in each batch
(``collectives.CollectiveCounter``), DeepSpeed's own gradient norm of each step, and the tb-netviz
warnings.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import warnings

# DeepSpeed compiles a small communication op at its first start: once, into the venv.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_extensions"))

import lightning  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard  # noqa: E402
from torch.distributed.fsdp.wrap import ModuleWrapPolicy  # noqa: E402

from tb_netviz.torch import NetVizCallback  # noqa: E402
from tests.sharded.collectives import CollectiveCounter  # noqa: E402
from tests.sharded.models import batches, loss_of, probe_tokens, tiny_transformer  # noqa: E402

STEPS = 3
TIMEOUT = datetime.timedelta(seconds=60)
# "counted": gradient flow every other optimizer step, no histograms, 2 batches accumulated per
# step (one collective per logged step, none between); "histograms": every step, one batch each,
# with weight and gradient histograms (two collectives per logged step).
FITS = {
    "counted": {"log_every_n_steps": 2, "histograms": False, "accumulate_grad_batches": 2},
    "histograms": {"log_every_n_steps": 1, "histograms": True, "accumulate_grad_batches": 1},
}


class ShardedLM(lightning.LightningModule):
    def __init__(self, engine: str) -> None:
        super().__init__()
        self.net = tiny_transformer()
        self.engine = engine

    def configure_model(self) -> None:
        if self.engine == "model_parallel":
            for block in self.net.blocks:
                fully_shard(block, mesh=self.device_mesh["data_parallel"])
            fully_shard(self.net, mesh=self.device_mesh["data_parallel"])
        elif self.engine == "fsdp" and not isinstance(self.net, FullyShardedDataParallel):
            # Lightning's own wrapping passes device_id=None, which FSDP refuses on CPU; a model
            # wrapped in configure_model is taken as it is.
            self.net = FullyShardedDataParallel(
                self.net,
                auto_wrap_policy=ModuleWrapPolicy({nn.TransformerEncoderLayer}),
                use_orig_params=True,
                device_id=torch.device("cpu"),
            )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens)

    def training_step(self, batch, batch_idx):
        tokens, targets = batch
        return loss_of(self, tokens, targets)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def rank_batches(rank: int, world: int, count: int) -> torch.utils.data.DataLoader:
    """This rank's half of each of ``count`` batches of ``models.batches``, one per loader batch."""
    halves = [(tokens.chunk(world)[rank], targets.chunk(world)[rank]) for tokens, targets in batches(count)]
    data = torch.utils.data.TensorDataset(*(torch.cat(parts) for parts in zip(*halves, strict=True)))
    return torch.utils.data.DataLoader(data, batch_size=len(halves[0][0]), shuffle=False)


def strategy(engine: str):
    if engine == "model_parallel":
        from lightning.pytorch.strategies import ModelParallelStrategy

        return ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1, timeout=TIMEOUT)
    if engine.startswith("deepspeed"):
        return cpu_deepspeed_strategy(stage=int(engine[-1]), timeout=TIMEOUT)
    from lightning.pytorch.strategies import FSDPStrategy

    class CPUFSDPStrategy(FSDPStrategy):
        """Lightning refuses ``FSDPStrategy`` itself without a GPU (by exact type); a subclass passes."""

    return CPUFSDPStrategy(timeout=TIMEOUT)


def cpu_deepspeed_strategy(**options):
    """``DeepSpeedStrategy`` on CPU processes (DeepSpeed itself runs there, with gloo).

    Lightning refuses it in two places: ``setup_environment`` raises unless the accelerator is a
    ``CUDAAccelerator``, and the devices must carry the local rank as their index (Lightning checks
    the indices, and hands ``root_device.index`` to ``deepspeed.initialize`` as the device rank; a
    plain ``cpu`` device has none). The subclass indexes the CPU devices ``cpu:0``, ``cpu:1`` (the
    same device to torch) and skips the CUDA check; everything else is Lightning's own.
    """
    from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy

    class CPUDeepSpeedStrategy(DeepSpeedStrategy):
        def setup_environment(self) -> None:
            count = len(self.parallel_devices)
            self.parallel_devices = [torch.device("cpu", index) for index in range(count)]
            DDPStrategy.setup_environment(self)

    return CPUDeepSpeedStrategy(**options)


class StepRecorder(lightning.Callback):
    """After NetVizCallback's own ``on_train_batch_end``: the collectives counted in this batch, and
    under DeepSpeed the engine's own global gradient norm of each optimizer step and, in
    ``on_before_optimizer_step`` at the accumulation boundary, the steps the engine had taken."""

    def __init__(self, counter: CollectiveCounter) -> None:
        self.counter = counter
        self.per_batch: list[int] = []
        self.engine_norms: list[float] = []
        self.engine_steps_in_hook: list[int] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.counter.take()

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        engine = getattr(trainer.strategy, "deepspeed_engine", None)
        if engine is not None and engine.is_gradient_accumulation_boundary():
            self.engine_steps_in_hook.append(engine.global_steps)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.per_batch.append(self.counter.take())
        engine = getattr(trainer.strategy, "deepspeed_engine", None)
        if engine is not None and trainer.global_step > len(self.engine_norms):
            self.engine_norms.append(float(engine.get_global_grad_norm()))


def fit(
    out: str, engine: str, rank: int, world: int, counter: CollectiveCounter | None = None, **options
) -> StepRecorder | None:
    """Train ``ShardedLM`` for ``STEPS`` optimizer steps under ``engine`` (``plain``: one process, no
    strategy: the reference) with ``options`` (those of ``FITS``; default ``FITS["histograms"]``),
    logging to ``out``; returns the ``StepRecorder`` (None without ``counter``)."""
    options = dict(options or FITS["histograms"])
    accumulate = options.pop("accumulate_grad_batches")
    callback = NetVizCallback(out, sample_batch=probe_tokens(), sample_every_n_steps=1, **options)
    callbacks = [callback] if counter is None else [callback, StepRecorder(counter)]
    trainer = lightning.Trainer(
        strategy=strategy(engine) if engine != "plain" else "auto",
        accelerator="cpu",
        devices=world,
        max_steps=STEPS,
        accumulate_grad_batches=accumulate,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=callbacks,
        default_root_dir=out,
    )
    trainer.fit(ShardedLM(engine), rank_batches(rank, world, STEPS * accumulate))
    return None if counter is None else callbacks[1]


def main(out: str, engine: str) -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    counter = CollectiveCounter()
    report = {}
    for name, options in FITS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            recorder = fit(os.path.join(out, name), engine, rank, world, counter, **options)
        report[name] = {
            "collectives": recorder.per_batch,
            "engine_norms": recorder.engine_norms,
            "engine_steps_in_hook": recorder.engine_steps_in_hook,
            "warnings": [str(w.message) for w in caught if "tb-netviz" in str(w.message)],
        }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
