"""One fit, one session: models built by their first step, and fits another callback aborts."""

from __future__ import annotations

import gc
import warnings

import keras
import numpy as np
import pytest

from tb_netviz.keras import NetVizCallback

from .netviz_events import gradient_rows, read_run

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")


class TwoDense(keras.Model):
    """Subclassed and unbuilt until its first call; layers assigned opposite to their call order."""

    def __init__(self):
        super().__init__(name="sub")
        self.second = keras.layers.Dense(1, name="second")
        self.first = keras.layers.Dense(4, activation="tanh", name="first")

    def call(self, x):
        return self.second(self.first(x))


def test_an_unbuilt_subclassed_model_without_sample_batch_logs_gradient_flow_from_step_0(tmp_path):
    keras.utils.set_random_seed(0)
    model = TwoDense()
    model.compile("sgd", "mse")
    assert not model.built

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no logging problem is warned about
        model.fit(
            X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[NetVizCallback(tmp_path, log_every_n_steps=1)]
        )

    layers, table = gradient_rows(tmp_path)
    assert layers == ["first", "second"]  # data-flow order
    assert sorted(table) == [0, 1, 2, 3]
    assert all(table[step][layer]["has_grad"] == 1.0 for step in table for layer in layers)
    assert "netviz/activations" not in read_run(tmp_path)  # no sample_batch: gradients only
    assert int(model.optimizer.iterations.numpy()) == 4
    assert "apply" not in vars(model.optimizer)


def test_an_unbuilt_model_then_fits_without_the_callback_unchanged(tmp_path):
    watched, plain = TwoDense(), TwoDense()
    for model in (watched, plain):
        model.compile(keras.optimizers.SGD(0.1), "mse")
    keras.utils.set_random_seed(1)
    watched.fit(X, Y, batch_size=4, shuffle=False, verbose=0, callbacks=[NetVizCallback(tmp_path)])
    keras.utils.set_random_seed(1)
    plain.fit(X, Y, batch_size=4, shuffle=False, verbose=0)
    plain.set_weights(watched.get_weights())
    before = watched.train_function

    watched.fit(X, Y, batch_size=4, shuffle=False, verbose=0)
    plain.fit(X, Y, batch_size=4, shuffle=False, verbose=0)

    assert watched.train_function is before  # the callback's wrapper was gone after its fit
    for a, b in zip(watched.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sorted(gradient_rows(tmp_path)[1]) == [0]


class FailAtEpochEnd(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("another callback failed at the end of an epoch")


@pytest.mark.parametrize("netviz_first", [True, False], ids=["netviz-first", "failing-first"])
def test_after_another_callback_fails_at_epoch_end_the_model_and_the_log_are_whole(tmp_path, netviz_first):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="fc"), keras.layers.Dense(1, name="out")]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    original_train_function = model.make_train_function() or model.train_function
    netviz = NetVizCallback(tmp_path, log_every_n_steps=1)
    callbacks = [netviz, FailAtEpochEnd()] if netviz_first else [FailAtEpochEnd(), netviz]

    with pytest.raises(RuntimeError, match="failed at the end of an epoch"):
        model.fit(X, Y, batch_size=4, verbose=0, callbacks=callbacks)
    if netviz_first:  # the epoch was flushed by the callback's own on_epoch_end
        assert sorted(gradient_rows(tmp_path)[1]) == [0, 1]
    assert "apply" not in vars(model.optimizer)  # the instance override is gone
    model.fit(X, Y, batch_size=4, verbose=0)  # a plain fit gets the model back at its first step

    assert model.train_function is original_train_function
    assert "apply" not in vars(model.optimizer)
    assert int(model.optimizer.iterations.numpy()) == 4
    assert sorted(gradient_rows(tmp_path)[1]) == [0, 1]  # complete, and nothing of the plain fit
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1


class TrainingOnly(TwoDense):
    """Cannot run in inference mode, which is how Keras builds a model symbolically."""

    def call(self, x, training=None):
        if not training:
            raise TypeError("this model only runs in training mode")
        return super().call(x)


def test_a_model_that_cannot_be_built_symbolically_warns_once_and_trains_unlogged(tmp_path):
    model = TrainingOnly()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    callback = NetVizCallback(tmp_path, log_every_n_steps=1)

    with pytest.warns(
        RuntimeWarning, match="(?s)could not be built .*pass NetVizCallback\\(sample_batch"
    ) as caught:
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[callback])

    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert int(model.optimizer.iterations.numpy()) == 4
    assert "netviz/gradient_flow" not in read_run(tmp_path)
    assert "apply" not in vars(model.optimizer)


def test_an_aborted_fit_writes_a_complete_event_file_once_the_model_is_collected(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])
    model.compile("sgd", "mse")
    callbacks = [FailAtEpochEnd(), NetVizCallback(tmp_path, log_every_n_steps=1)]  # no epoch flush
    with pytest.raises(RuntimeError, match="failed at the end of an epoch"):
        model.fit(X, Y, batch_size=4, verbose=0, callbacks=callbacks)

    del model, callbacks  # the session is unreachable now: no further fit will end it
    gc.collect()

    assert sorted(gradient_rows(tmp_path)[1]) == [0, 1]


class LoggedStepsAtEpochEnd(keras.callbacks.Callback):
    """Runs after the NetViz callback and notes which steps it had logged at each epoch end."""

    def __init__(self, netviz):
        super().__init__()
        self.netviz = netviz
        self.seen: list[list[int]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(list(self.netviz.logged_steps))


@pytest.mark.parametrize(
    ("steps_per_execution", "loss_scaled"), [(1, False), (3, False), (1, True)], ids=["1", "3", "loss-scaled"]
)
def test_every_step_of_a_long_epoch_is_logged_by_the_end_of_that_epoch(
    tmp_path, steps_per_execution, loss_scaled
):
    # 75 steps per epoch: the in-graph buffer is read in batches and wraps around several times.
    # With a loss-scale optimizer the host only knows an upper bound of the step count.
    x = RNG.normal(size=(75, 3)).astype("float32")
    y = RNG.normal(size=(75, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])
    optimizer = keras.optimizers.SGD(0.01)
    if loss_scaled:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer, "mse", steps_per_execution=steps_per_execution)
    netviz = NetVizCallback(tmp_path, log_every_n_steps=1)
    at_epoch_end = LoggedStepsAtEpochEnd(netviz)

    model.fit(x, y, batch_size=1, epochs=2, shuffle=False, verbose=0, callbacks=[netviz, at_epoch_end])

    assert at_epoch_end.seen == [list(range(75)), list(range(150))]
    _, table = gradient_rows(tmp_path)
    assert sorted(table) == list(range(150))
    norms = read_run(tmp_path)["netviz/global_grad_norm"]
    assert [n.step for n in norms] == list(range(150))


def test_probes_run_at_the_first_logged_step_and_at_sample_steps_between_batched_reads(tmp_path):
    x = RNG.normal(size=(60, 3)).astype("float32")
    y = RNG.normal(size=(60, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="fc"), keras.layers.Dense(1, name="out")]
    )
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(x[:5], y[:5], batch_size=1, verbose=0)  # the logged fit starts at step 5
    netviz = NetVizCallback(tmp_path, sample_batch=x[:2], log_every_n_steps=10, sample_every_n_steps=25)

    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[netviz])

    probe_steps = [logged.step for logged in read_run(tmp_path)["netviz/activations"]]
    assert probe_steps == [10, 25, 50, 64]  # first logged step, sample steps, end of fit
    assert netviz.logged_steps == [10, 20, 30, 40, 50, 60]
