"""Activations, feature maps and attention on sample_batch, for every model style."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tb_netviz.keras import NetVizCallback
from tb_netviz.keras.probe import activation_statistics
from tb_netviz.summary import ACTIVATION_STATS

from .netviz_events import gradient_rows, read_run

RNG = np.random.default_rng(0)


def fit_once(model, x, y, log_dir, **options):
    model.compile(keras.optimizers.SGD(0.01), "mse")
    callback = NetVizCallback(log_dir=log_dir, sample_batch=x[:4], log_every_n_steps=1, **options)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    return read_run(log_dir)


def activation_table(events) -> dict[int, dict[str, dict[str, float]]]:
    logged = events["netviz/activations"]
    content = logged[0].content
    assert content["stats"] == list(ACTIVATION_STATS)
    return {
        e.step: {
            layer: dict(zip(content["stats"], row, strict=True))
            for layer, row in zip(content["layers"], e.value, strict=True)
        }
        for e in logged
    }


def png_size(events, tag) -> tuple[int, int]:
    width, height, png = events[tag][-1].value
    assert png.startswith(b"\x89PNG")
    return int(width), int(height)


def test_sequential_cnn_logs_activations_equal_to_its_layer_outputs_and_feature_maps(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, name="out"),
        ]
    )
    x, y = RNG.normal(size=(8, 8, 8, 1)).astype("float32"), np.zeros((8, 2), "float32")

    events = fit_once(model, x, y, tmp_path)

    table = activation_table(events)
    final_step = max(table)
    assert sorted(table) == [0, 1]  # the first logged step and the end of training
    conv_output = keras.Model(model.inputs, model.get_layer("conv").output)(x[:4]).numpy()
    expected = dict(zip(ACTIVATION_STATS, activation_statistics(conv_output), strict=True))
    for name, value in expected.items():
        assert table[final_step]["conv"][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    # 6 channels of 6x6 in a 3x2 grid with one-pixel separators
    assert png_size(events, "netviz/feature_maps/conv") == (3 * 6 + 2, 2 * 6 + 1)


def test_functional_conv1d_and_conv3d_have_channel_first_feature_maps(tmp_path):
    signal = keras.Input((12, 2), name="signal")
    volume = keras.Input((4, 6, 6, 1), name="volume")
    a = keras.layers.Conv1D(3, 3, name="conv1d")(signal)
    b = keras.layers.Conv3D(4, 3, name="conv3d")(volume)
    merged = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling1D()(a), keras.layers.GlobalAveragePooling3D()(b)]
    )
    model = keras.Model([signal, volume], keras.layers.Dense(1, name="out")(merged))
    x = [RNG.normal(size=(8, 12, 2)).astype("float32"), RNG.normal(size=(8, 4, 6, 6, 1)).astype("float32")]
    y = np.zeros((8, 1), "float32")
    model.compile(keras.optimizers.SGD(0.01), "mse")
    callback = NetVizCallback(log_dir=tmp_path, sample_batch=[x[0][:2], x[1][:2]], log_every_n_steps=1)

    model.fit(x, y, batch_size=4, verbose=0, shuffle=False, callbacks=[callback])

    events = read_run(tmp_path)
    layers, _ = gradient_rows(tmp_path)
    assert set(layers) == {"conv1d", "conv3d", "out"} and layers[-1] == "out"
    # Conv1D: 3 channels of length 10 drawn as 4-pixel strips in a 2x2 grid
    assert png_size(events, "netviz/feature_maps/conv1d") == (2 * 10 + 1, 2 * 4 + 1)
    # Conv3D: the middle depth slice of 4 channels of 4x4
    assert png_size(events, "netviz/feature_maps/conv3d") == (2 * 4 + 1, 2 * 4 + 1)


class ReversedAttributes(keras.Model):
    """Its layers are assigned in the opposite order to the one they are called in."""

    def __init__(self):
        super().__init__()
        self.last = keras.layers.Dense(1, name="last")
        self.middle = keras.layers.Dense(4, activation="relu", name="middle")
        self.first = keras.layers.Dense(4, name="first")

    def call(self, x):
        return self.last(self.middle(self.first(x)))


def test_subclassed_model_rows_follow_the_call_order(tmp_path):
    model = ReversedAttributes()
    x, y = RNG.normal(size=(8, 3)).astype("float32"), np.zeros((8, 1), "float32")

    events = fit_once(model, x, y, tmp_path)

    layers, table = gradient_rows(tmp_path)
    assert layers == ["first", "middle", "last"]
    assert events["netviz/activations"][0].content["layers"] == layers
    assert all(table[0][layer]["has_grad"] == 1.0 for layer in layers)


class AttentionBlock(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, name="self_attention")
        self.norm = keras.layers.LayerNormalization(name="norm")

    def call(self, x):
        return self.norm(x + self.attention(x, x))


def test_attention_of_nested_and_top_level_mha_is_logged_with_tokens(tmp_path):
    tokens = ["the", "cat", "sat", "on", "a", "mat"]
    inputs = keras.Input((6, 8))
    hidden = AttentionBlock(name="block")(inputs)
    cross = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="cross")(hidden, inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(keras.layers.Flatten()(cross)))
    x, y = RNG.normal(size=(8, 6, 8)).astype("float32"), np.zeros((8, 1), "float32")

    events = fit_once(model, x, y, tmp_path, tokens=tokens, max_heads=2)

    nested = events["netviz/attention/block/self_attention"]
    assert nested[0].content["layer"] == "block/self_attention"
    assert nested[0].value.shape == (2, 6, 6)  # max_heads=2 of 3 heads, 6 queries x 6 keys
    assert json.dumps(nested[0].content).count("mat") >= 1
    _, expected = model.get_layer("block").attention(x[:1], x[:1], return_attention_scores=True)
    np.testing.assert_allclose(nested[-1].value, np.asarray(expected)[0, :2], rtol=1e-5, atol=1e-6)
    top = events["netviz/attention/cross"]
    assert top[0].value.shape == (2, 6, 6)
    np.testing.assert_allclose(top[0].value.sum(axis=-1), 1.0, rtol=1e-5)
    layers, _ = gradient_rows(tmp_path)
    assert layers[:4] == [
        "block/self_attention/query",
        "block/self_attention/key",
        "block/self_attention/value",
        "block/self_attention/attention_output",
    ]


def test_dead_relu_units_raise_an_alert(tmp_path):
    dead = keras.layers.Dense(4, activation="relu", bias_initializer=keras.initializers.Constant(-100.0))
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="in"), dead, keras.layers.Dense(1)]
    )
    x, y = RNG.normal(size=(8, 3)).astype("float32"), np.zeros((8, 1), "float32")

    with pytest.warns(UserWarning, match="dead units"):
        events = fit_once(model, x, y, tmp_path)

    alerts = json.loads(events["netviz/alerts"][-1].value.item().decode())
    assert {(a["kind"], a["layer"]) for a in alerts} >= {("dead_units", dead.name)}
    assert activation_table(events)[0][dead.name]["act_dead_frac"] == 1.0


def test_histograms_of_weights_gradients_and_activations_when_asked(tmp_path):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="fc"), keras.layers.Dense(1, name="out")]
    )
    x, y = RNG.normal(size=(8, 3)).astype("float32"), np.ones((8, 1), "float32")

    events = fit_once(model, x, y, tmp_path, histograms=True)

    for kind in ("weights", "gradients", "activations"):
        logged = events[f"netviz/histograms/{kind}/fc"]
        assert logged[0].plugin == "histograms" and logged[0].step == 0
        assert logged[0].value[:, 2].sum() == {"weights": 16, "gradients": 16, "activations": 16}[kind]


def test_log_dir_defaults_to_the_tensorboard_callbacks_training_directory(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x, y = RNG.normal(size=(8, 3)).astype("float32"), np.ones((8, 1), "float32")
    callbacks = [keras.callbacks.TensorBoard(log_dir=str(tmp_path)), NetVizCallback(log_every_n_steps=1)]

    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)

    events = read_run(tmp_path / "train")
    assert [e.step for e in events["netviz/gradient_flow"]] == [0, 1]
    assert "epoch_loss" in events  # the TensorBoard callback's own scalars: one run
