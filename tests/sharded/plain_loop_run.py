"""Plain-loop NetViz under FSDP2 or FSDP1 on gloo ranks; run by the tests through ``ranks``.

``python plain_loop_run.py OUT ENGINE [fail] [histograms]``, ENGINE ``fsdp2`` (``fully_shard`` per
block and on the root) or ``fsdp1`` (``FullyShardedDataParallel``, ``use_orig_params=True``, a block auto-wrap
policy; ``fsdp1_flat`` the same with ``use_orig_params=False``): trains ``TinyTransformer`` for
``STEPS`` steps, each rank on its half of every batch, clipping the global norm to ``CLIP``, logging
to ``OUT/netviz``. Each rank writes ``OUT/rank<r>.json``: the collectives NetViz started per logged
step (``collectives.CollectiveCounter``) and the warnings it gave. With ``fail``, rank 1 cannot
compute its part at step 1; with ``histograms``, NetViz writes weight and gradient histograms.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
from torch.distributed.fsdp.wrap import ModuleWrapPolicy

from tb_netviz.torch import NetViz
from tests.sharded.collectives import CollectiveCounter
from tests.sharded.models import batches, loss_of, probe_tokens, tiny_transformer
from tests.sharded.ranks import init_rank, leave_ranks

STEPS = 3
CLIP = 0.05


def train(model, viz, optimizer, data, rank: int, world: int, counter=None, fail_step=None) -> list[int]:
    """The training loop both the sharded runs and the reference use; returns collectives per step."""
    per_step = []
    for step, (tokens, targets) in enumerate(data):
        optimizer.zero_grad()
        loss_of(model, tokens.chunk(world)[rank], targets.chunk(world)[rank]).backward()
        read_piece = viz._capture.stats.read_piece if fail_step == step else None
        if read_piece is not None:
            viz._capture.stats.read_piece = _failing
        viz.log_gradients(step)
        if isinstance(model, FullyShardedDataParallel):
            model.clip_grad_norm_(CLIP)  # FSDP1's flat slices: torch's clip would see one rank's slice
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        if read_piece is not None:
            viz._capture.stats.read_piece = read_piece
        viz.log_sample(step)
        if counter is not None:
            per_step.append(counter.take())
    return per_step


def shard(model, engine: str):
    if engine in ("fsdp1", "fsdp1_flat"):
        return FullyShardedDataParallel(
            model,
            auto_wrap_policy=ModuleWrapPolicy({nn.TransformerEncoderLayer}),
            use_orig_params=engine == "fsdp1",
            device_id=torch.device("cpu"),
        )
    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)
    return model


def _failing(parameter):
    raise RuntimeError("this rank's piece is unreadable")


def main(out: str, engine: str, fail: bool, histograms: bool) -> None:
    rank = init_rank()
    model = shard(tiny_transformer(), engine)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    counter = CollectiveCounter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz = NetViz(
            model,
            os.path.join(out, "netviz"),
            sample_batch=probe_tokens(),
            optimizer=optimizer,
            log_every_n_steps=1,
            sample_every_n_steps=1,
            histograms=histograms,
        )
        per_step = train(
            model,
            viz,
            optimizer,
            batches(STEPS),
            rank,
            dist.get_world_size(),
            counter,
            1 if fail and rank == 1 else None,
        )
        viz.close()
    counter.close()
    report = {
        "collectives": per_step,
        "warnings": [str(w.message) for w in caught if "tb-netviz" in str(w.message)],
    }
    with open(os.path.join(out, f"rank{rank}.json"), "w") as handle:
        json.dump(report, handle)
    leave_ranks()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "fail" in sys.argv[3:], "histograms" in sys.argv[3:])
