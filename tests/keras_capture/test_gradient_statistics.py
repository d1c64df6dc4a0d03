"""LayerGradientStatistics: the in-graph GRADIENT_STATS rows against numpy references."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_netviz.keras.gradient_statistics import LayerGradientStatistics
from tb_netviz.keras.layers import WeightLayer
from tb_netviz.summary.columns import GRADIENT_STATS


def dense(name: str, inputs: int, units: int, seed: int) -> WeightLayer:
    layer = keras.layers.Dense(units, name=name)
    layer.build((None, inputs))
    rng = np.random.default_rng(seed)
    for variable in layer.trainable_variables:
        variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    return WeightLayer(name, layer)


def reference_row(gradients: list[np.ndarray], weights: list[np.ndarray]) -> dict[str, float]:
    flat = np.concatenate([g.ravel() for g in gradients]).astype(np.float64)
    finite = np.isfinite(flat)
    param_l2 = math.sqrt(sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights))
    grad_l2 = math.sqrt(float(np.sum(np.square(flat))))
    return {
        "grad_l2": grad_l2,
        "grad_mean_abs": float(np.mean(np.abs(flat))),
        "grad_max_abs": float(np.max(np.abs(flat))),
        "param_l2": param_l2,
        "grad_to_param": grad_l2 / param_l2,
        "grad_nonfinite": float(np.count_nonzero(~finite)),
        "has_grad": 1.0,
    }


def table(rows: tf.Tensor, names: list[str]) -> dict[str, dict[str, float]]:
    return {
        name: dict(zip(GRADIENT_STATS, row.tolist(), strict=True))
        for name, row in zip(names, rows.numpy(), strict=True)
    }


def random_gradients(layer: WeightLayer, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {id(v): rng.normal(size=v.shape).astype(np.float32) for v in layer.variables}


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "tf.function"])
def test_rows_and_global_norm_equal_numpy(traced):
    layers = [dense("a", 5, 4, seed=1), dense("b", 4, 3, seed=2)]
    gradients = {**random_gradients(layers[0], 3), **random_gradients(layers[1], 4)}

    def compute():
        return LayerGradientStatistics(layers, {k: tf.constant(g) for k, g in gradients.items()}).compute()

    rows, norm = tf.function(compute)() if traced else compute()
    got = table(rows, ["a", "b"])
    for layer in layers:
        expected = reference_row(
            [gradients[id(v)] for v in layer.variables], [v.numpy() for v in layer.variables]
        )
        assert got[layer.name] == pytest.approx(expected, rel=1e-5)
    all_gradients = np.concatenate([g.ravel() for g in gradients.values()]).astype(np.float64)
    assert float(norm) == pytest.approx(math.sqrt(np.sum(np.square(all_gradients))), rel=1e-6)


def test_non_finite_entries_are_counted_exactly_per_layer():
    layers = [dense("a", 6, 5, seed=1), dense("b", 5, 2, seed=2)]
    gradients = {**random_gradients(layers[0], 3), **random_gradients(layers[1], 4)}
    kernel_a = gradients[id(layers[0].variables[0])]
    kernel_a[0, :3] = [np.nan, np.inf, -np.inf]
    kernel_a[4, 4] = np.nan

    rows, norm = LayerGradientStatistics(layers, {k: tf.constant(g) for k, g in gradients.items()}).compute()

    got = table(rows, ["a", "b"])
    assert got["a"]["grad_nonfinite"] == 4.0
    assert got["b"]["grad_nonfinite"] == 0.0
    expected_b = reference_row(
        [gradients[id(v)] for v in layers[1].variables], [v.numpy() for v in layers[1].variables]
    )
    assert got["b"] == pytest.approx(expected_b, rel=1e-5)
    assert math.isnan(float(norm))


def test_finite_gradients_whose_squares_overflow_keep_a_finite_norm_and_no_non_finite_count():
    layer = dense("a", 2, 2, seed=1)
    gradients = {id(v): np.full(v.shape, 1e30, np.float32) for v in layer.variables}

    rows, norm = LayerGradientStatistics([layer], {k: tf.constant(g) for k, g in gradients.items()}).compute()

    row = table(rows, ["a"])["a"]
    assert row["grad_nonfinite"] == 0.0 and row["grad_max_abs"] == pytest.approx(1e30, rel=1e-6)
    entries = sum(g.size for g in gradients.values())
    assert row["grad_l2"] == pytest.approx(1e30 * math.sqrt(entries), rel=1e-6)  # finite, not inf
    assert float(norm) == pytest.approx(1e30 * math.sqrt(entries), rel=1e-6)


def test_a_layer_without_gradient_gets_the_missing_row_with_its_weight_norm():
    layers = [dense("frozen", 3, 2, seed=1), dense("trained", 2, 2, seed=2)]
    gradients = random_gradients(layers[1], 5)

    rows, norm = LayerGradientStatistics(layers, {k: tf.constant(g) for k, g in gradients.items()}).compute()

    frozen = table(rows, ["frozen", "trained"])["frozen"]
    weights = np.concatenate([v.numpy().ravel() for v in layers[0].variables])
    assert frozen["has_grad"] == 0.0 and frozen["grad_nonfinite"] == 0.0
    assert math.isnan(frozen["grad_l2"]) and math.isnan(frozen["grad_max_abs"])
    assert frozen["param_l2"] == pytest.approx(float(np.linalg.norm(weights)), rel=1e-6)
    trained = np.concatenate([g.ravel() for g in gradients.values()])
    assert float(norm) == pytest.approx(float(np.linalg.norm(trained)), rel=1e-6)


def test_the_global_norm_covers_gradients_of_layers_not_shown():
    shown, hidden = dense("shown", 3, 2, seed=1), dense("hidden", 3, 2, seed=2)
    gradients = {**random_gradients(shown, 3), **random_gradients(hidden, 4)}

    rows, norm = LayerGradientStatistics([shown], {k: tf.constant(g) for k, g in gradients.items()}).compute()

    assert rows.shape == (1, len(GRADIENT_STATS))
    everything = np.concatenate([g.ravel() for g in gradients.values()])
    assert float(norm) == pytest.approx(float(np.linalg.norm(everything)), rel=1e-6)


def test_a_weight_shared_by_two_layers_counts_in_both_rows():
    first = dense("first", 3, 3, seed=1)
    second = WeightLayer("second", first.layer)
    gradients = random_gradients(first, 2)

    rows, norm = LayerGradientStatistics(
        [first, second], {k: tf.constant(g) for k, g in gradients.items()}
    ).compute()

    got = table(rows, ["first", "second"])
    assert got["first"] == got["second"]
    assert float(norm) == pytest.approx(got["first"]["grad_l2"], rel=1e-6)
