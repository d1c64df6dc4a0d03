"""Overhead of NetVizCallback on Keras ``fit``: one process, interleaved, repeated.

Four configurations train the same >= 1M-parameter CNN on synthetic data:

* ``plain``: ``fit`` with no callback;
* ``netviz``: ``fit`` with ``NetVizCallback(log_every_n_steps=1, sample_batch=x[:8])``,
  gradient flow logged at every step, and the probe pass (activations, feature maps) at the
  first step of each fit, every 100 optimizer steps and at the end;
* ``netviz-grads``: ``NetVizCallback(log_every_n_steps=1)`` without ``sample_batch``: gradient
  flow at every step alone, the cost the issue's goal is about;
* ``tensorboard``: ``fit`` with ``keras.callbacks.TensorBoard(histogram_freq=1)``.

Each round runs one ``fit`` of every configuration, in a rotating order, each on
its own model. The time per step (wall and whole-process CPU) is measured in steady state
(see ``StepTimer``); the one-off cost of ending ``fit`` is reported apart. The overhead of a configuration
is its time per step over the plain one's in the same round; the script reports
the median and the spread over rounds.

Usage:
    .venv/bin/python bench/bench_keras.py [--rounds 7] [--steps 40] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tb_netviz.keras import NetVizCallback  # noqa: E402


def conv_net() -> list[keras.layers.Layer]:
    """1.13M parameters, nearly all in convolutions (the usual shape of a CNN)."""
    return [
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(128, 3, padding="same", activation="relu", name="conv3"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="conv4"),
        keras.layers.Conv2D(320, 3, padding="same", activation="relu", name="conv5"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, name="logits"),
    ]


def dense_head_net() -> list[keras.layers.Layer]:
    """1.07M parameters, 98% of them in one dense layer with little compute: the worst case,
    where the optimizer's (and netviz's) per-parameter work is a large part of each step."""
    return [
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu", name="fc"),
        keras.layers.Dense(10, name="logits"),
    ]


MODELS = {"conv": conv_net, "dense-head": dense_head_net}


def cnn(seed: int, kind: str = "conv") -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)), *MODELS[kind]()])
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class StepTimer(keras.callbacks.Callback):
    """Wall and CPU seconds per step in steady state, and the one-off cost of ending ``fit``.

    The steady-state window runs from the end of the first step (tracing and the
    first probe pass left out) to the end of the epoch (so the TensorBoard
    callback's epoch-end histograms are in). The one-off cost is what the other
    callbacks' ``on_train_end`` take (netviz: the final probe pass and flushing).
    CPU time is the whole process's (every thread: TensorFlow's pools, the
    netviz writer thread), so it counts all the work a callback adds and is far
    less disturbed than wall time by other programs sharing the cores.
    Put it last in the callback list.
    """

    def on_train_begin(self, logs=None):
        self.start, self.steps = None, 0

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None:
            self.start, self.cpu_start = time.perf_counter(), time.process_time()
        else:
            self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end = time.perf_counter()
        self.per_step = {
            "wall": (self.epoch_end - self.start) / self.steps,
            "cpu": (time.process_time() - self.cpu_start) / self.steps,
        }

    def on_train_end(self, logs=None):
        self.end_of_fit = time.perf_counter() - self.epoch_end


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40, help="steps per fit (one epoch)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--model", choices=sorted(MODELS), default="conv")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=len(x))
    root = tempfile.mkdtemp(prefix="bench_keras_")
    configs = ("plain", "netviz", "netviz-grads", "tensorboard")
    models = {name: cnn(seed=1, kind=args.model) for name in configs}
    print(
        f"model {args.model}: {models['plain'].count_params():,} parameters; "
        f"{args.steps} steps per fit; batch {args.batch}; {args.rounds} rounds"
    )

    def callbacks(name: str, round_index: int) -> list[keras.callbacks.Callback]:
        log_dir = os.path.join(root, f"{name}_{round_index}")
        if name == "netviz":
            return [NetVizCallback(log_dir=log_dir, sample_batch=x[:8], log_every_n_steps=1)]
        if name == "netviz-grads":
            return [NetVizCallback(log_dir=log_dir, log_every_n_steps=1)]
        if name == "tensorboard":
            return [keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1)]
        return []

    def run(name: str, round_index: int) -> dict[str, float]:
        timer = StepTimer()
        models[name].fit(
            x, y, batch_size=args.batch, epochs=1, verbose=0, callbacks=[*callbacks(name, round_index), timer]
        )
        return {**timer.per_step, "end_of_fit": timer.end_of_fit}

    for name in models:  # warm-up: first traces, thread pools, allocator
        run(name, -1)
    per_step: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    names = list(models)
    for round_index in range(args.rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            per_step[name].append(run(name, round_index))

    for clock in ("cpu", "wall"):
        print(f"\n{clock} time per step")
        print(
            f"{'config':<12} {'ms/step median':>15} {'overhead median':>16} "
            f"{'overhead IQR':>18} {'overhead min..max':>20}"
        )
        for name in names:
            times = [t[clock] for t in per_step[name]]
            overheads = [
                100 * (t[clock] / p[clock] - 1)
                for t, p in zip(per_step[name], per_step["plain"], strict=True)
            ]
            low, _, high = statistics.quantiles(overheads, n=4) if len(overheads) > 1 else overheads * 3
            print(
                f"{name:<12} {1000 * statistics.median(times):>15.2f} "
                f"{statistics.median(overheads):>15.1f}% "
                f"{low:>8.1f}%..{high:.1f}% "
                f"{min(overheads):>9.1f}%..{max(overheads):.1f}%"
            )
    print("\none-off cost of ending fit (on_train_end), ms, median")
    for name in names:
        print(f"{name:<12} {1000 * statistics.median(t['end_of_fit'] for t in per_step[name]):>8.1f}")


if __name__ == "__main__":
    main()
