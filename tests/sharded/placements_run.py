"""DTensor placements other than FSDP2's: ``Shard(1)`` and ``Replicate`` pieces on gloo ranks.

``python placements_run.py OUT``: a Linear layer whose weight gradient is sharded along dim 1 and
whose bias gradient is replicated on both ranks; rank 0 writes the table it measured from the
pieces to ``OUT/placements.json`` (test_fsdp2 compares it with the unsharded table).
"""

from __future__ import annotations

import functools
import json
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

from tb_netviz.torch.layers import discover_layers
from tb_netviz.torch.sharded_stats import ShardedGradientStatistics
from tb_netviz.torch.shards import dtensor_piece
from tests.sharded.ranks import init_rank, leave_ranks


def gradients() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return torch.randn(6, 5, generator=generator), torch.randn(6, generator=generator)


def main(out: str) -> None:
    rank = init_rank()
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    torch.manual_seed(0)
    layer = nn.Linear(5, 6)
    weight_grad, bias_grad = gradients()
    layer.weight = nn.Parameter(distribute_tensor(layer.weight.detach(), mesh, [Shard(1)]))
    layer.bias = nn.Parameter(distribute_tensor(layer.bias.detach(), mesh, [Replicate()]))
    layer.weight.grad = distribute_tensor(weight_grad, mesh, [Shard(1)])
    layer.bias.grad = distribute_tensor(bias_grad, mesh, [Replicate()])
    stats = ShardedGradientStatistics(
        discover_layers(layer), read_piece=functools.partial(dtensor_piece, rank=rank)
    )
    table = stats.finish(stats.measure())
    if rank == 0:
        with open(os.path.join(out, "placements.json"), "w") as handle:
            json.dump({"values": table.values.tolist(), "global_norm": table.global_norm}, handle)
    leave_ranks()


if __name__ == "__main__":
    main(sys.argv[1])
