"""NetVizCallback under a sharding Lightning strategy on gloo ranks; run by test_lightning_sharded.

``python lightning_run.py OUT ENGINE``, ENGINE ``model_parallel``
(``ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1)``, ``fully_shard`` per
block and on the network in ``configure_model``) or ``fsdp`` (``FSDPStrategy`` on CPU, the
network wrapped in ``configure_model``). The ranks are started by ``ranks.run_ranks``
(Lightning sees ``LOCAL_RANK`` and launches nothing itself); each trains on its half of every
batch of ``models.batches``, logging to ``OUT/netviz``.
"""

from __future__ import annotations

import datetime
import os
import sys

import lightning
import torch
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
from torch.distributed.fsdp.wrap import ModuleWrapPolicy

from tb_netviz.torch import NetVizCallback
from tests.sharded.models import batches, loss_of, probe_tokens, tiny_transformer

STEPS = 3
TIMEOUT = datetime.timedelta(seconds=60)


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


def rank_batches(rank: int, world: int) -> torch.utils.data.DataLoader:
    """This rank's half of each batch of ``models.batches``, one step per loader batch."""
    halves = [(tokens.chunk(world)[rank], targets.chunk(world)[rank]) for tokens, targets in batches(STEPS)]
    data = torch.utils.data.TensorDataset(*(torch.cat(parts) for parts in zip(*halves, strict=True)))
    return torch.utils.data.DataLoader(data, batch_size=len(halves[0][0]), shuffle=False)


def strategy(engine: str):
    if engine == "model_parallel":
        from lightning.pytorch.strategies import ModelParallelStrategy

        return ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1, timeout=TIMEOUT)
    from lightning.pytorch.strategies import FSDPStrategy

    class CPUFSDPStrategy(FSDPStrategy):
        """Lightning refuses ``FSDPStrategy`` itself without a GPU (by exact type); a subclass passes."""

    return CPUFSDPStrategy(timeout=TIMEOUT)


def fit(out: str, engine: str, rank: int, world: int) -> None:
    """Train ``ShardedLM`` under ``engine`` (``plain``: one process, no strategy: the reference)."""
    callback = NetVizCallback(
        os.path.join(out, "netviz"), sample_batch=probe_tokens(), log_every_n_steps=1, sample_every_n_steps=1
    )
    trainer = lightning.Trainer(
        strategy=strategy(engine) if engine != "plain" else "auto",
        accelerator="cpu",
        devices=world,
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[callback],
        default_root_dir=out,
    )
    trainer.fit(ShardedLM(engine), rank_batches(rank, world))


def main(out: str, engine: str) -> None:
    fit(out, engine, int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
