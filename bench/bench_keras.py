"""Overhead of NetVizCallback on Keras ``fit``: one process, interleaved, repeated.

Three configurations train the same >= 1M-parameter CNN on synthetic data:

* ``plain``: ``fit`` with no callback;
* ``netviz``: ``fit`` with ``NetVizCallback(log_every_n_steps=1, sample_batch=x[:8])``,
  gradient flow logged at every step (the probe pass runs at the first step and at the end);
* ``tensorboard``: ``fit`` with ``keras.callbacks.TensorBoard(histogram_freq=1)``.

Each round runs one ``fit`` of every configuration, in a rotating order, each on
its own model. The time per step is measured from the end of the first step (so
the one-off tracing is left out) to the end of ``on_train_end`` (so end-of-fit
writing is in). The overhead of a configuration is its time per step over the
plain one's in the same round; the script reports the median and the spread
over rounds.

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


def cnn(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu", name="fc"),
            keras.layers.Dense(10, name="logits"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class StepTimer(keras.callbacks.Callback):
    """Seconds per step from the end of the first step to the end of training."""

    def on_train_begin(self, logs=None):
        self.start, self.steps = None, 0

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()
        else:
            self.steps += 1

    def on_train_end(self, logs=None):
        self.seconds_per_step = (time.perf_counter() - self.start) / self.steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40, help="steps per fit (one epoch)")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=len(x))
    root = tempfile.mkdtemp(prefix="bench_keras_")
    models = {name: cnn(seed=1) for name in ("plain", "netviz", "tensorboard")}
    print(f"parameters: {models['plain'].count_params():,}; steps per fit: {args.steps}; batch {args.batch}")

    def callbacks(name: str, round_index: int) -> list[keras.callbacks.Callback]:
        log_dir = os.path.join(root, f"{name}_{round_index}")
        if name == "netviz":
            return [NetVizCallback(log_dir=log_dir, sample_batch=x[:8], log_every_n_steps=1)]
        if name == "tensorboard":
            return [keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1)]
        return []

    def run(name: str, round_index: int) -> float:
        timer = StepTimer()
        models[name].fit(
            x, y, batch_size=args.batch, epochs=1, verbose=0, callbacks=[*callbacks(name, round_index), timer]
        )
        return timer.seconds_per_step

    for name in models:  # warm-up: first traces, thread pools, allocator
        run(name, -1)
    per_step: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_index in range(args.rounds):
        order = names[round_index % 3 :] + names[: round_index % 3]
        for name in order:
            per_step[name].append(run(name, round_index))

    print(f"{'config':<12} {'ms/step median':>15} {'overhead median':>16} {'overhead min..max':>20}")
    for name in names:
        ratios = [t / p for t, p in zip(per_step[name], per_step["plain"], strict=True)]
        print(
            f"{name:<12} {1000 * statistics.median(per_step[name]):>15.2f} "
            f"{100 * (statistics.median(ratios) - 1):>15.1f}% "
            f"{100 * (min(ratios) - 1):>9.1f}%..{100 * (max(ratios) - 1):.1f}%"
        )


if __name__ == "__main__":
    main()
