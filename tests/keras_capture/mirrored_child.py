"""Child process for the MirroredStrategy test: TensorFlow's devices are fixed at start-up.

Usage: python -m tests.keras_capture.mirrored_child LOG_DIR
Trains a small model on 2 logical CPU devices with NetVizCallback and writes
``expected.json`` (per-layer statistics of the step-0 gradient of the global
batch, from an independent GradientTape) next to the logs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tb_netviz.keras import NetVizCallback  # noqa: E402


def main(log_dir: Path) -> None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(4, activation="tanh", name="hidden"),
                keras.layers.Dense(2, name="out"),
            ]
        )
        model.compile(keras.optimizers.SGD(0.1), "mse")
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y[:8], model(x[:8], training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    expected = {}
    for layer in model.layers:
        g = np.concatenate(
            [
                np.ravel(grads[i])
                for i, v in enumerate(model.trainable_weights)
                if any(v is w for w in layer.weights)
            ]
        )
        expected[layer.name] = {"grad_l2": float(np.linalg.norm(g)), "grad_max_abs": float(np.abs(g).max())}
    callback = NetVizCallback(log_dir=log_dir, sample_batch=x[:2], log_every_n_steps=1)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    (log_dir / "expected.json").write_text(
        json.dumps({"replicas": strategy.num_replicas_in_sync, "layers": expected})
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
