"""Plain PyTorch: a deep sigmoid MLP on digits whose early layers' gradients vanish.

Each sigmoid scales the gradient passing back through it by at most 1/4, so
after a dozen layers the first layers receive a gradient about a million
times smaller than the last: the NetViz heatmap shows a dark band at the top
and the ``vanishing`` alert fires for the early layers.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from demo.data import digits
from demo.progress import Progress
from tb_netviz.torch import NetViz

DEPTH = 12
WIDTH = 64


def build_model() -> nn.Sequential:
    """``DEPTH`` Linear+Sigmoid blocks (``fc01`` ... ``fc12``) and a linear classifier."""
    blocks: dict[str, nn.Module] = {"flatten": nn.Flatten()}
    for index in range(1, DEPTH + 1):
        blocks[f"fc{index:02d}"] = nn.Linear(64 if index == 1 else WIDTH, WIDTH)
        blocks[f"sigmoid{index:02d}"] = nn.Sigmoid()
    blocks["classifier"] = nn.Linear(WIDTH, 10)
    return nn.Sequential(OrderedDict(blocks))


def run(logdir: Path, quick: bool = False) -> Path:
    """Train and write the run ``torch_vanishing_mlp``; returns its directory."""
    torch.manual_seed(0)
    images, labels = digits()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    steps = 60 if quick else 400
    run_dir = logdir / "torch_vanishing_mlp"
    progress = Progress("plain PyTorch, vanishing", steps)
    generator = torch.Generator().manual_seed(0)
    with NetViz(
        model, log_dir=run_dir, sample_batch=x[:32], log_every_n_steps=2, sample_every_n_steps=20
    ) as viz:
        for step in range(steps):
            batch = torch.randint(0, len(x), (64,), generator=generator)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)
            progress.update(step + 1, loss=loss.item())
    progress.done(f"wrote {run_dir}")
    return run_dir
