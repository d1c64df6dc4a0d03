"""The gradient-flow metadata names the row of the model's own weights (``model_layer``)."""

from __future__ import annotations

import keras
import numpy as np

from tb_netviz.keras import NetVizCallback
from tb_netviz.summary.metadata import MODEL_LAYER_KEY

from .netviz_events import read_run


class Shifted(keras.Model):
    """A subclassed model that owns a weight itself besides its Dense layer's."""

    def __init__(self) -> None:
        super().__init__(name="shifted")
        self.dense = keras.layers.Dense(1, name="fc")

    def build(self, input_shape) -> None:
        self.shift = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="shift")
        self.dense.build(input_shape)

    def call(self, x):
        return self.dense(x + self.shift)


def test_the_row_of_the_models_own_weights_is_named_in_the_metadata(tmp_path):
    model = Shifted()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    callback = NetVizCallback(log_dir=tmp_path, log_every_n_steps=1)
    model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    content = read_run(tmp_path)["netviz/gradient_flow"][0].content
    assert content[MODEL_LAYER_KEY] == "shifted"
    assert content["layers"][0] == "shifted"
    assert "fc" in content["layers"]
