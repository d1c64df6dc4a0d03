"""Bad input is a clear error naming the problem; a logging failure never stops fit."""

from __future__ import annotations

import dataclasses
import pydoc

import keras
import numpy as np
import pytest

from tb_netviz.keras import NetVizCallback
from tb_netviz.summary import CaptureOptions

from .netviz_events import gradient_rows, read_run

X = np.random.default_rng(0).normal(size=(8, 6, 3)).astype("float32")
Y = np.zeros((8, 1), "float32")


def attention_model() -> keras.Model:
    inputs = keras.Input((6, 3))
    hidden = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2, name="attention")(inputs, inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(keras.layers.Flatten()(hidden)))
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def test_an_unknown_option_is_named():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['log_every_n_step'\]"):
        NetVizCallback("runs", log_every_n_step=5)


def test_help_describes_every_option_the_callback_takes():
    shown = pydoc.render_doc(NetVizCallback, renderer=pydoc.plaintext)
    missing = [f.name for f in dataclasses.fields(CaptureOptions) if f"{f.name}: " not in shown]
    assert missing == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps must be >= 1"),
        ({"layers": "dense*"}, TypeError, "layers must be a list"),
        ({"sample_batch": np.zeros((0, 3))}, ValueError, "sample_batch has 0 samples"),
        ({"sample_batch": 3.0}, TypeError, "sample_batch must hold arrays"),
        ({"log_dir": 5}, TypeError, "log_dir must be a path"),
    ],
)
def test_invalid_options_fail_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        NetVizCallback(**{"log_dir": "runs", **kwargs})


def test_without_log_dir_or_tensorboard_fit_says_to_pass_log_dir():
    model = attention_model()
    before = model.make_train_function() or model.train_function

    with pytest.raises(ValueError, match="pass NetVizCallback\\(log_dir=...\\)"):
        model.fit(X, Y, verbose=0, callbacks=[NetVizCallback()])

    assert model.train_function is before


def test_a_layer_pattern_that_matches_nothing_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="layer pattern 'atention/\\*' matches no layer"):
        attention_model().fit(X, Y, verbose=0, callbacks=[NetVizCallback(tmp_path, layers=["atention/*"])])


def test_a_sample_batch_the_model_cannot_take_is_an_error(tmp_path):
    callback = NetVizCallback(tmp_path, sample_batch=np.zeros((2, 5, 5), "float32"))
    with pytest.raises(ValueError, match="sample_batch cannot be fed to model"):
        attention_model().fit(X, Y, verbose=0, callbacks=[callback])


def test_layer_patterns_choose_rows_and_attention_layers(tmp_path):
    callback = NetVizCallback(
        tmp_path, sample_batch=X[:2], log_every_n_steps=1, layers=["attention*", "!attention/key"]
    )
    attention_model().fit(X, Y, batch_size=4, verbose=0, callbacks=[callback])

    layers, _ = gradient_rows(tmp_path)
    assert layers == ["attention/query", "attention/value", "attention/attention_output"]
    assert "netviz/attention/attention" in read_run(tmp_path)


def test_a_failing_token_function_warns_once_and_training_goes_on(tmp_path):
    def broken_tokens(sample):
        raise KeyError("no vocabulary")

    callback = NetVizCallback(tmp_path, sample_batch=X[:2], log_every_n_steps=1, tokens=broken_tokens)
    model = attention_model()

    with pytest.warns(RuntimeWarning, match="probe views were not logged .*no vocabulary") as caught:
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[callback])

    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert int(model.optimizer.iterations.numpy()) == 4
    assert sorted(gradient_rows(tmp_path)[1]) == [0, 1, 2, 3]


def test_tokens_of_the_wrong_length_are_dropped_with_a_warning(tmp_path):
    callback = NetVizCallback(tmp_path, sample_batch=X[:2], log_every_n_steps=1, tokens=["a", "b"])

    with pytest.warns(
        RuntimeWarning,
        match="tokens has 2 labels but the attention of layer 'attention' is 6 queries x 6 keys",
    ):
        attention_model().fit(X, Y, batch_size=8, verbose=0, callbacks=[callback])

    logged = read_run(tmp_path)["netviz/attention/attention"]
    assert "tokens" not in logged[0].content
