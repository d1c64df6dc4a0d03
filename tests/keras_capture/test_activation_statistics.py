"""Activation statistics follow tb_netviz.summary.columns: finite entries, population std."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from tb_netviz.keras import NetVizCallback
from tb_netviz.keras.probe import activation_statistics
from tb_netviz.summary import ACTIVATION_STATS

from .netviz_events import read_run


def numpy_reference(output: np.ndarray) -> dict[str, float]:
    """The definitions of columns.py written out directly, for a channels-last output."""
    values = np.asarray(output, np.float64)
    finite = values[np.isfinite(values)]
    units = values.reshape(-1, values.shape[-1])
    return {
        "act_mean": float(np.mean(finite)) if finite.size else np.nan,
        "act_std": float(np.sqrt(np.mean((finite - finite.mean()) ** 2))) if finite.size else np.nan,
        "act_zero_frac": float(np.count_nonzero(values == 0) / values.size),
        "act_dead_frac": float(np.mean([np.all(units[:, c] == 0) for c in range(units.shape[1])])),
        "act_max_abs": float(np.max(np.abs(finite))) if finite.size else np.nan,
        "act_nonfinite": float(np.count_nonzero(~np.isfinite(values))),
    }


def test_one_nan_leaves_mean_std_and_max_of_the_finite_entries_defined():
    output = np.array([[0.0, 1.5, np.nan], [0.0, -3.0, 2.0], [0.0, np.inf, 0.5]])

    row = dict(zip(ACTIVATION_STATS, activation_statistics(output), strict=True))

    expected = numpy_reference(output)
    assert row == pytest.approx(expected, nan_ok=True)
    assert row["act_std"] == pytest.approx(np.std([0, 1.5, 0, -3, 2, 0, 0.5]))  # population std
    assert row["act_nonfinite"] == 2.0 and row["act_zero_frac"] == pytest.approx(3 / 9)


def test_an_output_without_finite_entries_has_nan_mean_std_and_max():
    row = dict(zip(ACTIVATION_STATS, activation_statistics(np.full((2, 3), np.nan)), strict=True))

    assert np.isnan([row["act_mean"], row["act_std"], row["act_max_abs"]]).all()
    assert row["act_nonfinite"] == 6.0 and row["act_zero_frac"] == 0.0


def test_fit_logs_finite_statistics_of_a_layer_whose_probe_output_holds_a_nan(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="fc")])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    sample = x[:4].copy()
    sample[0, 0] = np.nan  # the first sample's outputs are all NaN, the others are finite
    callback = NetVizCallback(tmp_path, sample_batch=sample, log_every_n_steps=1, sample_every_n_steps=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the non-finite activation alert
        model.fit(x, np.zeros((8, 4), "float32"), batch_size=8, verbose=0, callbacks=[callback])

    logged = read_run(tmp_path)["netviz/activations"][-1]
    row = dict(zip(logged.content["stats"], logged.value[logged.content["layers"].index("fc")], strict=True))
    expected = numpy_reference(model(sample, training=False).numpy())
    assert expected["act_nonfinite"] == 4.0 and np.isfinite(expected["act_mean"])
    for name in ACTIVATION_STATS:
        assert row[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), name
