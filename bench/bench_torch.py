"""Step-time overhead of ``NetViz.log_gradients`` every step, against other gradient loggers.

One process, interleaved: each round runs every variant for ``--steps`` training
steps (default 1) in a shuffled order, and each variant's step time is divided
by the plain loop's step time of the same round, so that slow drifts of a
shared machine cancel. Reported: the median ratio over rounds and its
interquartile range. For netviz, the time spent inside ``log_gradients`` itself
is also reported relative to the plain step ("direct"), a measure that the
noise of the other steps does not blur, next to its floor: the time to read
every gradient and every weight once (``torch._foreach_norm`` of each, timed
outside the step), below which no exact per-layer statistic can go. Models (each >= 5M parameters, CPU):

* cnn: 6 conv layers with BatchNorm, global pooling, a linear classifier; batch 32 x 3x32x32;
* transformer: token embedding, 6 ``nn.TransformerEncoderLayer`` (d=256), a linear head;
  batch 8 x 64 tokens;
* many_tensors: 130 residual Linear + LayerNorm blocks with
  long names, 522 parameter tensors, 8.6M parameters; batch 256 x 256.

Variants (same architecture and initial weights, one model copy each):

* plain: forward, backward, optimizer step;
* netviz: plus ``viz.log_gradients(step)`` with ``log_every_n_steps=1``;
* wandb: ``wandb.watch(model, log="gradients", log_freq=1)`` in offline mode, plus
  ``wandb.log({"loss": ...})`` every step (what commits the watched gradients);
* lightning_grad_norm: Lightning's recipe ``grad_norm(model, norm_type=2)`` every step,
  with the values brought to Python floats as a logger does.

Usage:
    .venv/bin/python bench/bench_torch.py --rounds 30 --out docs/bench/torch_results.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tb_netviz.torch import NetViz  # noqa: E402


def build_cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    widths = [3, 64, 128, 256, 512, 512, 512]
    layers: list[nn.Module] = []
    for index, (inp, out) in enumerate(zip(widths, widths[1:], strict=False)):
        stride = 2 if index in (1, 2, 3) else 1
        layers += [nn.Conv2d(inp, out, 3, stride=stride, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))
    x = torch.randn(32, 3, 32, 32)
    y = torch.randint(0, 1000, (32,))
    return model, x, y


class Transformer(nn.Module):
    def __init__(self, vocab: int = 1000, width: int = 256, depth: int = 6) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, 8, 4 * width, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)))


def build_transformer() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, 1000, (8, 64))
    return Transformer(), tokens, tokens


class ManyTensors(nn.Module):
    """130 residual blocks of Linear + LayerNorm under long names: 520 parameter tensors."""

    def __init__(self, width: int = 256, depth: int = 130) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(
            {
                f"residual_block_with_a_long_descriptive_name_{i:03d}": nn.Sequential(
                    nn.Linear(width, width), nn.LayerNorm(width)
                )
                for i in range(depth)
            }
        )
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks.values():
            x = x + torch.relu(block(x))
        return self.head(x)


def build_many_tensors() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    return ManyTensors(), torch.randn(256, 256), torch.randint(0, 10, (256,))


def read_once_seconds(model: nn.Module) -> float:
    """Time to read every gradient and every weight once (``_foreach_norm`` of each, one sync):
    the floor of any exact per-layer gradient and weight statistic on this device."""
    start = time.perf_counter()
    with torch.no_grad():
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        weights = list(model.parameters())
        norms = torch._foreach_norm(grads) + torch._foreach_norm(weights)
        float(torch.stack(norms).sum())
    return time.perf_counter() - start


def loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


class Variant:
    """One way of training the model copy it owns; ``step`` returns its duration in seconds."""

    def __init__(self, name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, log_dir: str) -> None:
        self.name, self.model, self.x, self.y = name, model, x, y
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        self.count = 0
        self.logging_seconds: list[float] = []
        self.floor_seconds: list[float] = []
        self.viz = (
            NetViz(model, os.path.join(log_dir, name), log_every_n_steps=1) if name == "netviz" else None
        )
        self.run = None
        if name == "wandb":
            import wandb

            self.run = wandb.init(mode="offline", dir=log_dir, project="netviz-bench")
            wandb.watch(model, log="gradients", log_freq=1)

    def step(self) -> float:
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss = loss_of(self.model, self.x, self.y)
        loss.backward()
        if self.viz is not None:
            logging_start = time.perf_counter()
            self.viz.log_gradients(self.count)
            self.logging_seconds.append(time.perf_counter() - logging_start)
            pause = time.perf_counter()
            self.floor_seconds.append(read_once_seconds(self.model))
            start += time.perf_counter() - pause  # the floor probe is not part of the step
        elif self.name == "lightning_grad_norm":
            from lightning.pytorch.utilities import grad_norm

            norms = grad_norm(self.model, norm_type=2)
            {key: float(value) for key, value in norms.items()}
        self.optimizer.step()
        if self.run is not None:
            self.run.log({"loss": loss.detach()})
        self.count += 1
        return time.perf_counter() - start

    def close(self) -> None:
        if self.viz is not None:
            self.viz.close()
        if self.run is not None:
            import wandb

            wandb.unwatch(self.model)
            self.run.finish()


def measure(build, names: list[str], rounds: int, steps: int, log_dir: str) -> dict:
    torch.manual_seed(0)
    model, x, y = build()
    params = sum(p.numel() for p in model.parameters())
    tensors = len(list(model.parameters()))
    variants = {name: Variant(name, copy.deepcopy(model), x, y, log_dir) for name in names}
    for variant in variants.values():  # warm-up: allocator, first-call costs, wandb hooks
        for _ in range(2):
            variant.step()
    ratios: dict[str, list[float]] = {name: [] for name in names if name != "plain"}
    plain_ms: list[float] = []
    order = list(names)
    for variant in variants.values():
        variant.logging_seconds.clear()
        variant.floor_seconds.clear()
    for _ in range(rounds):
        random.shuffle(order)
        medians = {name: statistics.median(variants[name].step() for _ in range(steps)) for name in order}
        plain_ms.append(medians["plain"] * 1e3)
        for name in ratios:
            ratios[name].append(medians[name] / medians["plain"])
    for variant in variants.values():
        variant.close()
    result = {
        "parameters": params,
        "parameter_tensors": tensors,
        "plain_step_ms_median": statistics.median(plain_ms),
        "ratios": {name: _summary(v) for name, v in ratios.items()},
    }
    if "netviz" in variants:
        logging_ms = statistics.median(variants["netviz"].logging_seconds) * 1e3
        result["netviz_log_gradients_ms_median"] = logging_ms
        result["netviz_direct_overhead"] = logging_ms / result["plain_step_ms_median"]
        floor_ms = statistics.median(variants["netviz"].floor_seconds) * 1e3
        result["read_once_ms_median"] = floor_ms
        result["read_once_overhead"] = floor_ms / result["plain_step_ms_median"]
    return result


def _summary(values: list[float]) -> dict:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": quartiles[0], "q3": quartiles[2], "per_round": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--models", default="cnn,transformer,many_tensors")
    parser.add_argument("--variants", default="plain,netviz,wandb,lightning_grad_norm")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_SILENT", "true")
    random.seed(0)
    builders = {"cnn": build_cnn, "transformer": build_transformer, "many_tensors": build_many_tensors}
    names = args.variants.split(",")
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "models": {}}
    with tempfile.TemporaryDirectory() as log_dir:
        for model_name in args.models.split(","):
            result = measure(builders[model_name], names, args.rounds, args.steps, log_dir)
            results["models"][model_name] = result
            print(
                f"{model_name}: {result['parameters'] / 1e6:.1f}M parameters in "
                f"{result['parameter_tensors']} tensors, plain step {result['plain_step_ms_median']:.0f} ms"
            )
            for name, ratio in result["ratios"].items():
                print(f"  {name:20s} x{ratio['median']:.3f}  (IQR {ratio['q1']:.3f} .. {ratio['q3']:.3f})")
            if "netviz_direct_overhead" in result:
                print(
                    f"  netviz log_gradients itself: {result['netviz_log_gradients_ms_median']:.1f} ms "
                    f"= {100 * result['netviz_direct_overhead']:.2f}% of the plain step"
                )
                print(
                    f"  floor, every gradient and weight read once: {result['read_once_ms_median']:.1f} ms "
                    f"= {100 * result['read_once_overhead']:.2f}% of the plain step"
                )
            sys.stdout.flush()
            if args.out:
                with open(args.out, "w") as handle:
                    json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
