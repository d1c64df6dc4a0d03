"""Plain PyTorch: a learning-rate warm-up to a rate far too high, so training blows up.

A regression MLP on the raw digit pixels trains calmly while the learning rate
is small; as the warm-up raises it past what the loss surface allows, the
gradients grow by orders of magnitude within a few steps (the ``exploding``
alert) and then overflow to Inf and NaN (the ``nonfinite`` alert), each
pointing at the step and the layer where it happened.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from demo.data import digits
from demo.progress import Progress
from tb_netviz.torch import NetViz

CALM_LR = 1e-4
PEAK_LR = 0.05


def build_model() -> nn.Sequential:
    """A three-layer ReLU MLP predicting the digit as a number."""
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(64, 64),
            relu1=nn.ReLU(),
            fc2=nn.Linear(64, 64),
            relu2=nn.ReLU(),
            regressor=nn.Linear(64, 1),
        )
    )


def learning_rate(step: int, warmup_steps: int) -> float:
    """Linear warm-up from CALM_LR to PEAK_LR, after ``warmup_steps`` calm steps."""
    ramp = min(1.0, max(0.0, (step - warmup_steps) / warmup_steps))
    return CALM_LR + ramp * (PEAK_LR - CALM_LR)


def run(logdir: Path, quick: bool = False) -> Path:
    """Train and write the run ``torch_exploding_lr``; returns its directory."""
    torch.manual_seed(0)
    images, labels = digits()
    x = torch.from_numpy(images) * 16.0  # raw pixel values 0..16: large inputs, large gradients
    y = torch.from_numpy(labels).float()[:, None]
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=CALM_LR)
    steps, warmup = (60, 20) if quick else (200, 40)
    run_dir = logdir / "torch_exploding_lr"
    progress = Progress("plain PyTorch, exploding", steps, every=20)
    generator = torch.Generator().manual_seed(0)
    with NetViz(
        model, log_dir=run_dir, sample_batch=x[:32], log_every_n_steps=1, sample_every_n_steps=10
    ) as viz:
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, warmup)
            batch = torch.randint(0, len(x), (64,), generator=generator)
            loss = nn.functional.mse_loss(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)
            progress.update(step + 1, loss=loss.item(), lr=optimizer.param_groups[0]["lr"])
    progress.done(f"wrote {run_dir}")
    return run_dir
