"""Cost of exact gradient statistics under FSDP2 on 2 CPU processes, per logged step.

Model: ``bench_torch.Transformer`` (token embedding, 6 ``nn.TransformerEncoderLayer``
d=256, a linear head; 5.3M parameters), ``fully_shard`` on every encoder layer and on
the root, batch 8 x 64 tokens per rank, SGD. Two gloo ranks on 127.0.0.1, one thread each.

Every round, on both ranks in step (a barrier before each timed part), after the
backward of one training step:

* netviz: ``viz.log_gradients(step)`` (``log_every_n_steps=1``): this rank's float64
  partials per layer, the one ``all_gather`` that combines them, and on rank zero the
  table handed to the writer;
* naive: what the statistics cost without shard-aware partials: one ``full_tensor()``
  (an all-gather) per parameter gradient and per weight, then the same float64 sums of
  each full tensor, on every rank;
* step: forward, backward and optimizer step of the same training step, not counting
  the two above.

Reported (rank zero's clock): per round netviz / step and naive / netviz; the median over
rounds and the interquartile range. With ``--histograms`` netviz also writes the weight and
gradient histograms of the whole tensors (``histograms=True``: each rank's entries to the host,
counted into the global buckets, a second ``all_gather`` of the counts).

Usage:
    flock /tmp/netviz_bench.lock .venv/bin/python bench/bench_sharded.py --rounds 15 [--histograms]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.fsdp import fully_shard

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_torch import Transformer, loss_of  # noqa: E402

from tb_netviz.torch import NetViz  # noqa: E402


def naive_statistics(model: torch.nn.Module) -> float:
    """Per parameter, the full gradient and weight (one all-gather each), then the same float64
    sums netviz computes (squares, |g|, max |g|, weight squares), as a host float."""
    sums = []
    for parameter in model.parameters():
        grad = parameter.grad.full_tensor().reshape(-1).double()
        weight = parameter.detach().full_tensor().reshape(-1).double()
        magnitude = grad.abs()
        sums += [torch.dot(grad, grad), magnitude.sum(), magnitude.amax(), torch.dot(weight, weight)]
    return float(torch.stack(sums).sum())


def timed(function) -> float:
    dist.barrier()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def worker(rank: int, world: int, port: int, rounds: int, out: str | None, histograms: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Transformer()
    parameters = sum(p.numel() for p in model.parameters())
    for layer in model.encoder.layers:
        fully_shard(layer)
    fully_shard(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    tokens = torch.randint(0, 1000, (8, 64), generator=torch.Generator().manual_seed(rank))
    rows = {"netviz_over_step": [], "naive_over_netviz": [], "step_ms": [], "netviz_ms": [], "naive_ms": []}
    with tempfile.TemporaryDirectory() as log_dir:
        viz = NetViz(model, log_dir, log_every_n_steps=1, histograms=histograms)
        for step in range(rounds + 2):  # the first two rounds warm up
            optimizer.zero_grad()

            def forward_backward():
                loss_of(model, tokens, tokens).backward()

            step_seconds = timed(forward_backward)
            netviz_seconds = timed(lambda: viz.log_gradients(step))  # noqa: B023 - called at once
            naive_seconds = timed(lambda: naive_statistics(model))
            step_seconds += timed(optimizer.step)
            if step >= 2:
                rows["step_ms"].append(step_seconds * 1e3)
                rows["netviz_ms"].append(netviz_seconds * 1e3)
                rows["naive_ms"].append(naive_seconds * 1e3)
                rows["netviz_over_step"].append(netviz_seconds / step_seconds)
                rows["naive_over_netviz"].append(naive_seconds / netviz_seconds)
        viz.close()
    if rank == 0:
        result = {
            "parameters": parameters,
            "world": world,
            "histograms": histograms,
            **{k: summary(v) for k, v in rows.items()},
        }
        print(
            json.dumps({k: v if not isinstance(v, dict) else _short(v) for k, v in result.items()}, indent=1)
        )
        if out:
            with open(out, "w") as handle:
                json.dump(result, handle, indent=1)
    dist.destroy_process_group()


def summary(values: list[float]) -> dict:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": quartiles[0], "q3": quartiles[2], "per_round": values}


def _short(row: dict) -> str:
    return f"median {row['median']:.4g} (IQR {row['q1']:.4g} .. {row['q3']:.4g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the full results as JSON here")
    parser.add_argument("--histograms", action="store_true", help="also write weight/gradient histograms")
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    worker_args = (args.world, port, args.rounds, args.out, args.histograms)
    mp.spawn(worker, args=worker_args, nprocs=args.world, join=True)


if __name__ == "__main__":
    main()
