"""Gradient flow from the real fit step: equal to an independent GradientTape, model left as found."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_netviz.keras import NetVizCallback
from tb_netviz.summary import GRADIENT_STATS, AlertThresholds

from .netviz_events import gradient_rows, read_run

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 6, 6, 2)).astype(np.float32)
Y = RNG.normal(size=(24, 3)).astype(np.float32)
BATCH = 8


def small_cnn(seed: int = 1, dtype: str | None = None) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv", dtype=dtype),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="tanh", name="hidden", dtype=dtype),
            keras.layers.Dense(3, name="out", dtype="float32"),
        ]
    )


def tape_statistics(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-layer statistics of an independent GradientTape computation, in numpy."""
    return layer_statistics(model, tape_gradients(model, x, y))


def tape_gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x, training=True))
    return [np.asarray(g, np.float64) for g in tape.gradient(loss, model.trainable_weights)]


def layer_statistics(model: keras.Model, grads: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """GRADIENT_STATS of each layer from float64 gradients of ``model.trainable_weights``."""
    stats = {}
    for layer in model.layers:
        own = [
            (g, v)
            for g, v in zip(grads, model.trainable_weights, strict=True)
            if any(v is w for w in layer.weights)
        ]
        if not own:
            continue
        g = np.concatenate([np.ravel(g) for g, _ in own])
        p = np.concatenate([np.ravel(np.asarray(v.numpy(), np.float64)) for _, v in own])
        stats[layer.name] = {
            "grad_l2": np.linalg.norm(g),
            "grad_mean_abs": np.abs(g).mean(),
            "grad_max_abs": np.abs(g).max(),
            "param_l2": np.linalg.norm(p),
            "grad_to_param": np.linalg.norm(g) / np.linalg.norm(p),
            "grad_nonfinite": 0.0,
            "has_grad": 1.0,
        }
    return stats


def fit_with_netviz(model: keras.Model, log_dir, epochs: int = 1, **options) -> keras.callbacks.History:
    callback = NetVizCallback(log_dir=log_dir, log_every_n_steps=1, **options)
    return model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback])


def assert_matches_tape(logged: dict[str, dict[str, float]], expected: dict[str, dict[str, float]], rtol):
    assert list(logged) == list(expected)
    for layer, stats in expected.items():
        for name in GRADIENT_STATS:
            assert logged[layer][name] == pytest.approx(stats[name], rel=rtol, abs=1e-7), (layer, name)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_step0_statistics_equal_an_independent_gradient_tape(tmp_path, jit_compile):
    model = small_cnn()
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    expected = tape_statistics(model, X[:BATCH], Y[:BATCH])

    fit_with_netviz(model, tmp_path)

    layers, table = gradient_rows(tmp_path)
    assert layers == ["conv", "hidden", "out"]
    assert sorted(table) == [0, 1, 2]
    assert_matches_tape(table[0], expected, rtol=1e-4)


def test_mixed_precision_statistics_are_unscaled(tmp_path):
    model = small_cnn(dtype="mixed_float16")
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)), "mse")
    expected = tape_statistics(model, X[:BATCH], Y[:BATCH])

    fit_with_netviz(model, tmp_path)

    _, table = gradient_rows(tmp_path)
    assert_matches_tape(table[0], expected, rtol=2e-2)
    skipped = read_run(tmp_path)["netviz/skipped_overflow_steps"]
    assert [float(e.value) for e in skipped] == [0.0, 0.0, 0.0]


def test_overflowing_loss_scale_steps_are_counted_and_not_logged(tmp_path):
    model = small_cnn(dtype="mixed_float16")
    # A huge initial scale overflows float16 until Keras has halved it enough.
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=2.0**20)
    model.compile(optimizer, "mse")

    fit_with_netviz(model, tmp_path, epochs=4)

    applied = int(model.optimizer.iterations.numpy())
    skipped = read_run(tmp_path)["netviz/skipped_overflow_steps"]
    _, table = gradient_rows(tmp_path)
    assert applied < 12, "the test needs at least one overflow step"
    assert sorted(table) == list(range(applied))
    assert float(skipped[-1].value) == 12 - applied


def test_every_step_is_recorded_with_steps_per_execution(tmp_path):
    model = small_cnn()
    model.compile(keras.optimizers.SGD(0.1), "mse", steps_per_execution=2)
    expected = tape_statistics(model, X[:BATCH], Y[:BATCH])

    fit_with_netviz(model, tmp_path, epochs=2)

    _, table = gradient_rows(tmp_path)
    assert sorted(table) == [0, 1, 2, 3, 4, 5]
    assert_matches_tape(table[0], expected, rtol=1e-4)
    assert table[5]["out"]["grad_l2"] != table[4]["out"]["grad_l2"]


def test_a_second_fit_continues_the_step_count(tmp_path):
    model = small_cnn()
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    callback = NetVizCallback(log_dir=tmp_path, log_every_n_steps=2)

    for _ in range(2):
        model.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[callback])

    _, table = gradient_rows(tmp_path)
    assert sorted(table) == [0, 2, 4]
    assert callback.logged_steps == [0, 2, 4]
    norms = read_run(tmp_path)["netviz/global_grad_norm"]
    for event in norms:
        row_norms = [table[event.step][layer]["grad_l2"] for layer in table[event.step]]
        assert float(event.value) == pytest.approx(math.sqrt(sum(n * n for n in row_norms)), rel=1e-5)


def test_training_is_numerically_unchanged_and_the_model_saves(tmp_path):
    watched, plain = small_cnn(seed=3), small_cnn(seed=3)
    for model in (watched, plain):
        model.compile(keras.optimizers.Adam(1e-2), "mse")
    layer_attributes = [set(vars(layer)) for layer in watched.layers]
    original_train_function = watched.make_train_function() or watched.train_function

    fit_with_netviz(watched, tmp_path / "run")
    watched.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)
    plain.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)
    plain.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)

    assert watched.train_function is original_train_function
    assert set(vars(watched.optimizer)) == set(vars(plain.optimizer))
    assert [set(vars(layer)) for layer in watched.layers] == layer_attributes
    for a, b in zip(watched.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    watched.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), watched.predict(X, verbose=0), rtol=1e-5)
    assert int(loaded.optimizer.iterations.numpy()) == int(watched.optimizer.iterations.numpy()) == 6


def test_a_failing_step_restores_the_model_and_propagates(tmp_path):
    model = small_cnn()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    original_train_function = model.make_train_function() or model.train_function
    optimizer_attributes = set(vars(model.optimizer))

    def batches():
        yield X[:BATCH], Y[:BATCH]
        raise RuntimeError("the data source broke")

    with pytest.raises(Exception, match="the data source broke"):
        model.fit(batches(), epochs=1, verbose=0, callbacks=[NetVizCallback(tmp_path, log_every_n_steps=1)])

    assert model.train_function is original_train_function
    assert set(vars(model.optimizer)) == optimizer_attributes


def test_a_frozen_layer_has_no_gradient_but_its_weight_norm(tmp_path):
    model = small_cnn()
    model.get_layer("hidden").trainable = False
    model.compile(keras.optimizers.SGD(0.1), "mse")
    kernel, bias = model.get_layer("hidden").get_weights()

    fit_with_netviz(model, tmp_path)

    _, table = gradient_rows(tmp_path)
    frozen = table[0]["hidden"]
    assert frozen["has_grad"] == 0.0 and frozen["grad_nonfinite"] == 0.0
    assert math.isnan(frozen["grad_l2"])
    assert frozen["param_l2"] == pytest.approx(math.sqrt((kernel**2).sum() + (bias**2).sum()), rel=1e-5)
    assert table[0]["out"]["has_grad"] == 1.0


def test_non_finite_gradients_are_counted_and_raise_an_alert(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="fc"), keras.layers.Dense(1, name="out")]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.ones((4, 3), np.float32)
    x[0, 1] = np.inf

    with pytest.warns(UserWarning, match="non-finite gradient in layer 'fc' at step 0"):
        model.fit(x, np.zeros((4, 1)), batch_size=4, verbose=0, callbacks=[NetVizCallback(tmp_path)])

    _, table = gradient_rows(tmp_path)
    assert table[0]["fc"]["grad_nonfinite"] > 0 and table[0]["fc"]["has_grad"] == 1.0
    alerts = json.loads(read_run(tmp_path)["netviz/alerts"][-1].value.item().decode())
    assert ("nonfinite", "fc", 0) in {(a["kind"], a["layer"], a["step"]) for a in alerts}


class FailAtSecondBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise RuntimeError("another callback failed")


def test_after_another_callback_aborts_fit_a_plain_fit_gets_the_model_back(tmp_path):
    model, plain = small_cnn(seed=5), small_cnn(seed=5)
    for m in (model, plain):
        m.compile(keras.optimizers.SGD(0.1), "mse")
    original_train_function = model.make_train_function() or model.train_function
    callbacks = [NetVizCallback(tmp_path, log_every_n_steps=1), FailAtSecondBatch()]

    with pytest.raises(RuntimeError, match="another callback failed"):
        model.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0, callbacks=callbacks)
    plain.fit(X[: 2 * BATCH], Y[: 2 * BATCH], batch_size=BATCH, shuffle=False, verbose=0)
    model.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)
    plain.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)

    assert model.train_function is original_train_function
    for a, b in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sorted(gradient_rows(tmp_path)[1]) == [0, 1]


def test_unknown_length_data_with_validation_logs_the_right_steps(tmp_path):
    model = small_cnn()
    model.compile(keras.optimizers.SGD(0.1), "mse")

    def batches():
        for start in range(0, len(X), BATCH):
            yield X[start : start + BATCH], Y[start : start + BATCH]

    callback = NetVizCallback(tmp_path, sample_batch=X[:2], log_every_n_steps=2)
    model.fit(batches(), validation_data=(X[:BATCH], Y[:BATCH]), verbose=0, callbacks=[callback])

    steps = int(model.optimizer.iterations.numpy())  # Keras may replay the batch it peeked at
    assert sorted(gradient_rows(tmp_path)[1]) == [s for s in range(steps) if s % 2 == 0]
    activation_steps = [e.step for e in read_run(tmp_path)["netviz/activations"]]
    assert activation_steps == [0, steps - 1]  # the first logged step, and the end of training


@pytest.mark.parametrize(
    "jit_compile, steps_per_execution, loss_scaled",
    [(False, 1, False), (True, 1, False), (False, 3, False), (False, 2, True)],
    ids=["graph", "xla", "3-steps-per-execution", "loss-scaled"],
)
def test_gradient_accumulation_logs_the_applied_mean_once_per_optimizer_step(
    tmp_path, jit_compile, steps_per_execution, loss_scaled
):
    model = small_cnn()
    optimizer = keras.optimizers.SGD(0.1, gradient_accumulation_steps=3)
    if loss_scaled:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer, "mse", jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    # The optimizer applies the mean of three micro-batch gradients, all taken at the initial weights.
    micro = [
        tape_gradients(model, X[i * BATCH : (i + 1) * BATCH], Y[i * BATCH : (i + 1) * BATCH])
        for i in range(3)
    ]
    expected = layer_statistics(model, [np.mean(parts, axis=0) for parts in zip(*micro, strict=True)])

    fit_with_netviz(model, tmp_path, epochs=2)  # 3 micro-batches an epoch: 2 optimizer steps

    _, table = gradient_rows(tmp_path)
    assert sorted(table) == [0, 1]
    assert_matches_tape(table[0], expected, rtol=1e-4)
    applying = model.optimizer.inner_optimizer if loss_scaled else model.optimizer
    assert int(applying.iterations.numpy()) == 2


def test_the_alert_thresholds_in_force_are_written_with_the_table(tmp_path):
    model = small_cnn()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    thresholds = AlertThresholds(vanishing_ratio=1e-3, exploding_factor=4.0, dead_fraction=0.9, patience=2)

    fit_with_netviz(model, tmp_path, alert_thresholds=thresholds)

    content = read_run(tmp_path)["netviz/gradient_flow"][0].content
    assert content["alert_thresholds"] == {
        "vanishing_ratio": 1e-3,
        "exploding_factor": 4.0,
        "dead_fraction": 0.9,
        "patience": 2,
    }
    assert content["log_every_n_steps"] == 1
