"""Cost of Grad-CAM at a sample step, torch, CPU: a >= 5M-parameter CNN, a 16-image probe batch.

One process, interleaved: each round times every variant once, in a shuffled
order, and divides it by the round's plain forward+backward of the probe batch,
so slow drifts of a shared machine cancel. Reported: the median over rounds and
the interquartile range, of the time and of the ratio.

Variants (one model, the same weights):

* fwd_bwd: the reference of the goal: ``cross_entropy(model(probe), y).backward()``
  in eval mode on the 16 probe images (parameter gradients included), as a user
  would compute a map by hand;
* gradcam_pass: ``GradCam.run()`` (forward with grad enabled, ``torch.autograd.grad``
  with respect to the target layer outputs, maps upsampled) plus the host transfer,
  for the default target (the last convolution); the goal is <= 1.2x fwd_bwd;
* gradcam_pass_all_convs: the same for all six convolutions at once (the gradient
  then flows back to the first one: the worst case);
* sample_step_plain: ``NetViz.log_sample`` of a sample step without Grad-CAM (the
  sample pass: activations, feature maps);
* sample_step_gradcam: the same with ``gradcam=True`` (sample pass, Grad-CAM pass,
  the maps queued for the writer; the overlay PNGs are drawn on the writer thread,
  which is flushed outside the timed region);
* train_step: one training step on a batch of 32 (forward, backward, SGD step).

Usage:
    flock /tmp/netviz_bench.lock .venv/bin/python bench/bench_gradcam.py --rounds 15
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_netviz.summary import CaptureOptions  # noqa: E402
from tb_netviz.torch import NetViz  # noqa: E402
from tb_netviz.torch.gradcam import GradCam  # noqa: E402

WIDTHS = [3, 64, 128, 256, 512, 512, 512]


def build_cnn() -> nn.Module:
    """6 conv + BatchNorm + ReLU stages (3 of them stride 2), global pooling, a 1000-way classifier."""
    layers: list[nn.Module] = []
    for index, (inp, out) in enumerate(zip(WIDTHS, WIDTHS[1:], strict=False)):
        stride = 2 if index in (1, 2, 3) else 1
        layers += [nn.Conv2d(inp, out, 3, stride=stride, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--probe", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_cnn()
    parameters = sum(p.numel() for p in model.parameters())
    probe = torch.randn(args.probe, 3, 32, 32)
    probe_y = torch.randint(0, 1000, (args.probe,))
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 1000, (32,))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    logdir = tempfile.mkdtemp(prefix="bench_gradcam_")
    plain = NetViz(model, os.path.join(logdir, "plain"), sample_batch=probe, sample_every_n_steps=1)
    with_gradcam = NetViz(
        model, os.path.join(logdir, "gradcam"), sample_batch=probe, sample_every_n_steps=1, gradcam=True
    )
    gradcam = GradCam(model, CaptureOptions(gradcam=True), probe)
    convs = [str(i) for i, m in enumerate(model) if isinstance(m, nn.Conv2d)]
    every_conv = GradCam(model, CaptureOptions(gradcam=True, gradcam_layers=convs), probe)
    steps = iter(range(1, 10**9))

    def fwd_bwd() -> None:
        model.eval()
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(probe), probe_y).backward()
        model.train()

    def gradcam_pass(pass_: GradCam = gradcam) -> None:
        result = pass_.run()
        for maps in result.maps.values():
            maps.cpu()

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    variants = {
        "fwd_bwd": fwd_bwd,
        "gradcam_pass": gradcam_pass,
        "gradcam_pass_all_convs": lambda: gradcam_pass(every_conv),
        "sample_step_plain": lambda: plain.log_sample(next(steps)),
        "sample_step_gradcam": lambda: with_gradcam.log_sample(next(steps)),
        "train_step": train_step,
    }
    for run in variants.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(args.rounds):
        random.shuffle(order)
        round_times = {}
        for name in order:
            round_times[name] = timed(variants[name])
            with_gradcam._capture.writer.flush()  # the writer thread's overlay PNGs, untimed
        for name, seconds in round_times.items():
            times[name].append(seconds)
            ratios[name].append(seconds / round_times["fwd_bwd"])
    plain.close()
    with_gradcam.close()
    print(f"CNN {parameters / 1e6:.1f}M parameters, probe {args.probe} x 3x32x32, {args.rounds} rounds")
    print(f"{'variant':<24}{'median ms':>10}{'IQR ms':>18}{'x fwd_bwd':>11}{'IQR':>16}")
    for name in variants:
        t = sorted(times[name])
        r = sorted(ratios[name])
        q = statistics.quantiles(t, n=4)
        qr = statistics.quantiles(r, n=4)
        print(
            f"{name:<24}{statistics.median(t) * 1e3:>10.1f}{f'{q[0] * 1e3:.1f}-{q[2] * 1e3:.1f}':>18}"
            f"{statistics.median(r):>11.2f}{f'{qr[0]:.2f}-{qr[2]:.2f}':>16}"
        )
    extra = [g - p for g, p in zip(times["sample_step_gradcam"], times["sample_step_plain"], strict=True)]
    added = [e / f for e, f in zip(extra, times["fwd_bwd"], strict=True)]
    print(
        f"Grad-CAM added to a sample step: median {statistics.median(extra) * 1e3:.1f} ms, "
        f"{statistics.median(added):.2f}x fwd_bwd"
    )


if __name__ == "__main__":
    main()
