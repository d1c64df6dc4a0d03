"""Keras: a small CNN on scikit-learn's digits, with feature maps, activation statistics and
Grad-CAM maps of both convolutions over training (the true digit given as ``sample_labels``),
its kernels and weight matrices, and the embedding of the penultimate layer (the input of
``logits``), whose points gather by digit as training goes on (also in the Projector tab)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from demo.data import digits
from tb_netviz.keras import NetVizCallback


def build_model() -> keras.Model:
    """Two convolutions and a dense classifier for 8x8 grey images."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", name="dense"),
            keras.layers.Dense(10, name="logits"),
        ]
    )


def run(logdir: Path, quick: bool = False) -> Path:
    """Train and write the run ``keras_digits_cnn``; returns its directory."""
    keras.utils.set_random_seed(0)
    images, labels = digits()
    x = images[..., np.newaxis]
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    run_dir = logdir / "keras_digits_cnn"
    callback = NetVizCallback(
        log_dir=str(run_dir),
        sample_batch=x[:16],
        sample_labels=labels[:16],
        log_every_n_steps=5,
        sample_every_n_steps=25,
        gradcam=True,
        gradcam_layers=["conv1", "conv2"],
    )
    print("[Keras, digits CNN] training", flush=True)
    model.fit(x, labels, batch_size=32, epochs=1 if quick else 4, callbacks=[callback], verbose=2)
    print(f"[Keras, digits CNN] done: wrote {run_dir}", flush=True)
    return run_dir
