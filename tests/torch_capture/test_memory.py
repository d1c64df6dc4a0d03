"""Resident memory stays flat over 5,000 logged steps, and no hook is left behind."""

from __future__ import annotations

import gc

import psutil
import torch
from torch import nn

from tb_netviz.summary import GRADIENT_FLOW_TAG
from tb_netviz.torch import NetViz
from tests.torch_capture.events import Run
from tests.torch_capture.test_sample_pass import all_hooks

STEPS = 5000
WARM_UP = 1000


def test_resident_memory_is_flat_over_5000_logged_steps(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread keeps 5,000 steps quick on a busy machine
    try:
        run_5000_steps(tmp_path)
    finally:
        torch.set_num_threads(threads)


def run_5000_steps(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    process = psutil.Process()
    with NetViz(
        model, tmp_path, sample_batch=x[:4], log_every_n_steps=1, sample_every_n_steps=50, optimizer=optimizer
    ) as viz:
        for step in range(STEPS):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)
            if step == WARM_UP:
                gc.collect()
                viz._capture.writer.flush()
                warm = process.memory_info().rss
        gc.collect()
        viz._capture.writer.flush()
        end = process.memory_info().rss
    growth_mb = (end - warm) / 2**20
    assert growth_mb < 8, f"resident memory grew {growth_mb:.1f} MB over {STEPS - WARM_UP} logged steps"
    assert all_hooks(model) == []
    assert len(Run(tmp_path).values(GRADIENT_FLOW_TAG)) == STEPS
