"""Added cost of the kernels, weight matrices and embedding at a sample step, against a training step.

One process, interleaved rounds on a >= 5M-parameter CNN (4 convolutions, a 4096 x 1024
dense layer, a classifier; CPU). Each round times, in a shuffled order:

* train: one plain training step (forward, backward, SGD step) on a batch of 64;
* sample_off: ``viz.log_sample(step)`` with the learned views off
  (``weight_layers=[]``, ``embedding=False``): the probe pass, activations, feature maps;
* sample_on: the same with the defaults (every conv and dense layer's weights,
  the embedding of the last dense layer's input, the Projector export);
* direct: the learned views' own calls alone (weights of every layer, embedding of
  features from one probe pass), a measure the probe pass's noise does not blur.

Each is timed on the training thread alone (the call returns once the work is
queued), and again up to the writer's flush (the writer thread's layouts, pooling,
PCA, PNGs and files included: on a loaded machine that thread competes with training).
The PCA itself is timed apart. Added cost = sample_on - sample_off, as a ratio to the
train step of the same round;
reported as median and interquartile range over rounds, and amortised over the default
``sample_every_n_steps`` (100). Bytes: what one sample step adds to the run directory
(event file and Projector files), on minus off.

Usage:
    flock /tmp/netviz_bench.lock .venv/bin/python bench/bench_learned.py --rounds 15
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_netviz.summary.embedding import EmbeddingProjection  # noqa: E402
from tb_netviz.torch import NetViz  # noqa: E402
from tb_netviz.torch.probe import run_probe  # noqa: E402

DEFAULT_SAMPLE_EVERY = 100


def build_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(128, 256, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(256 * 4 * 4, 1024),
        nn.ReLU(),
        nn.Linear(1024, 10),
    )


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return median, q1, q3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--probe", type=int, default=32, help="probe batch samples")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = build_cnn()
    parameters = sum(p.numel() for p in model.parameters())
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    probe = torch.randn(args.probe, 3, 32, 32)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    root = Path(tempfile.mkdtemp(prefix="bench_learned_"))
    common = {"sample_batch": probe, "log_every_n_steps": 10**9, "sample_every_n_steps": 1}
    vizzes = {
        "sample_off": NetViz(model, root / "off", weight_layers=[], embedding=False, **common),
        "sample_on": NetViz(model, root / "on", **common),
    }

    def train() -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    capture = vizzes["sample_on"]._capture
    probed = run_probe(model, probe, capture.request)  # the features the learned views are given

    def learned_only() -> tuple[float, float]:
        """The learned views alone: (training-thread seconds, seconds up to the writer's flush)."""
        start = time.perf_counter()
        capture.learned.write_weights(capture.writer, step)
        capture.learned.write_embedding(capture.writer, step, probed.embedding, probed.prediction, None)
        queued = time.perf_counter() - start
        capture.writer.flush()
        return queued, time.perf_counter() - start

    step = 0
    direct: dict[str, list[float]] = {"thread": [], "flushed": []}
    thread = {name: [] for name in ("train", "sample_off", "sample_on")}
    flushed = {name: [] for name in ("sample_off", "sample_on")}
    sizes = {name: [] for name in ("sample_off", "sample_on")}
    for _warm in range(2):
        train()
        for viz in vizzes.values():
            viz.log_sample(step)
            viz._capture.writer.flush()
        step += 1
    for _ in range(args.rounds):
        order = ["train", "sample_off", "sample_on", "direct"]
        random.shuffle(order)
        for name in order:
            if name == "direct":
                queued, done = learned_only()
                direct["thread"].append(queued)
                direct["flushed"].append(done)
                step += 1
                continue
            if name == "train":
                start = time.perf_counter()
                train()
                thread[name].append(time.perf_counter() - start)
                continue
            viz = vizzes[name]
            before = directory_bytes(root / name.split("_")[1])
            start = time.perf_counter()
            viz.log_sample(step)
            thread[name].append(time.perf_counter() - start)
            viz._capture.writer.flush()
            flushed[name].append(time.perf_counter() - start)
            sizes[name].append(directory_bytes(root / name.split("_")[1]) - before)
        step += 1
    for viz in vizzes.values():
        viz.close()

    def report(label: str, on: list[float], off: list[float]) -> None:
        ratios = [(a - b) / t for a, b, t in zip(on, off, thread["train"], strict=True)]
        median, q1, q3 = quartiles(ratios)
        print(
            f"  added cost, {label}: {median * 100:.1f}% of a training step per sample step "
            f"(IQR {q1 * 100:.1f}-{q3 * 100:.1f}%); amortised over sample_every_n_steps="
            f"{DEFAULT_SAMPLE_EVERY}: {median * 100 / DEFAULT_SAMPLE_EVERY:.2f}% per training step"
        )

    train_median, train_q1, train_q3 = quartiles(thread["train"])
    print(f"CNN with {parameters / 1e6:.2f}M parameters, probe batch {args.probe}, {args.rounds} rounds")
    print(f"  training step: {train_median * 1e3:.1f} ms (IQR {train_q1 * 1e3:.1f}-{train_q3 * 1e3:.1f})")
    for name in ("sample_off", "sample_on"):
        t, f = quartiles(thread[name])[0], quartiles(flushed[name])[0]
        print(f"  {name}: {t * 1e3:.1f} ms on the training thread, {f * 1e3:.1f} ms up to the flush")
    report("training thread", thread["sample_on"], thread["sample_off"])
    report("up to the flush", flushed["sample_on"], flushed["sample_off"])
    zeros = [0.0] * args.rounds
    report("learned views alone, training thread", direct["thread"], zeros)
    report("learned views alone, up to the flush", direct["flushed"], zeros)
    added = statistics.median(a - b for a, b in zip(sizes["sample_on"], sizes["sample_off"], strict=True))
    features = torch.randn(args.probe, 1024).numpy()  # the input of the last Linear, as the probe gives it
    projection = EmbeddingProjection()
    pca = []
    for _ in range(20):
        start = time.perf_counter()
        projection.project(features)
        pca.append(time.perf_counter() - start)
    print(
        f"  PCA with alignment of [{args.probe}, 1024] features (on the writer thread): "
        f"{statistics.median(pca) * 1e3:.2f} ms"
    )
    total = statistics.median(sizes["sample_on"])
    print(f"  bytes written per sample step: {added / 1e6:.2f} MB added (of {total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
