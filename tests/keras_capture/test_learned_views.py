"""Kernels, weight matrices and the embedding written by a real Keras ``fit``, against numpy."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from tb_netviz.keras import NetVizCallback
from tb_netviz.summary import NetVizWriteWarning
from tb_netviz.summary.embedding import principal_components
from tb_netviz.summary.weights import block_pool
from tests.torch_capture.events import Run

RNG = np.random.default_rng(5)
X = RNG.normal(size=(24, 8, 8, 5)).astype(np.float32)
Y = keras.utils.to_categorical(RNG.integers(0, 4, 24), 4)


def many_convs() -> keras.Model:
    """Conv1D, Conv2D channels-last and channels-first, Conv3D and Conv2DTranspose, then Dense."""
    keras.utils.set_random_seed(3)
    x = keras.Input((8, 8, 5))
    rgb = x[..., :3]
    a = keras.layers.Conv2D(20, 3, name="c2_last")(rgb)
    b = keras.layers.Conv2D(6, 3, data_format="channels_first", name="c2_first")(
        keras.ops.transpose(rgb, (0, 3, 1, 2))
    )
    c = keras.layers.Conv1D(5, 4, name="c1")(x[:, 0, :, :3])
    d = keras.layers.Conv3D(4, (3, 2, 3), name="c3")(keras.ops.reshape(x[..., 3:5], (-1, 4, 2, 8, 2)))
    e = keras.layers.Conv2DTranspose(3, 2, name="up")(a)
    flat = keras.layers.Concatenate()([keras.layers.Flatten()(t) for t in (a, b, c, d, e)])
    features = keras.layers.Dense(300, activation="relu", name="fc")(flat)
    return keras.Model(x, keras.layers.Dense(4, activation="softmax", name="out")(features))


class KernelsAt(keras.callbacks.Callback):
    """Records every layer's kernel at the end of the first batch (the first probe step)."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, np.ndarray] = {}

    def on_train_batch_end(self, batch, logs=None):
        if not self.first:
            self.first = {
                layer.name: layer.kernel.numpy() for layer in self.model.layers if hasattr(layer, "kernel")
            }


def fit(model, log_dir, epochs=2, **options):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    first = KernelsAt()
    callback = NetVizCallback(log_dir, sample_batch=X[:10], sample_every_n_steps=2, **options)
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=[first, callback])
    return first.first


def test_kernels_of_every_layout_are_out_by_in_tiles_equal_to_the_trained_kernels(tmp_path):
    model = many_convs()
    first = fit(model, tmp_path)
    run = Run(tmp_path)
    final = {layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")}
    last = {
        name: run.values(f"netviz/weights/{name}")[-1][1]
        for name in ("c2_last", "c2_first", "c1", "c3", "up")
    }
    for name in ("c2_last", "c2_first"):  # [kh, kw, in, out] whatever the data format
        np.testing.assert_array_equal(last[name][0], final[name].transpose(3, 2, 0, 1)[:16, :16])
        np.testing.assert_allclose(
            last[name][1], (final[name] - first[name]).transpose(3, 2, 0, 1)[:16, :16], atol=1e-6
        )
    np.testing.assert_array_equal(last["c1"][0], final["c1"].transpose(2, 1, 0)[:, :, None, :])
    np.testing.assert_array_equal(last["c3"][0], final["c3"][1].transpose(3, 2, 0, 1))  # middle depth slice
    np.testing.assert_array_equal(
        last["up"][0], final["up"].transpose(2, 3, 0, 1)[:, :16]
    )  # [kh, kw, out, in]
    assert run.content("netviz/weights/c2_last")["shown"] == [16, 3]
    assert run.content("netviz/weights/c2_last")["out_channels"] == 20
    assert "netviz/kernel_rgb/c2_last" in run.tags and "netviz/weight_images/c3" in run.tags
    steps = [s for s, _ in run.values("netviz/weights/c2_last")]
    assert steps[0] == 0 and steps[-1] == 5


def test_dense_matrices_are_output_rows_and_pooled_above_256(tmp_path):
    model = many_convs()
    fit(model, tmp_path, epochs=1)
    run = Run(tmp_path)
    fc = run.values("netviz/weights/fc")[-1][1]
    kernel = model.get_layer("fc").kernel.numpy().T.astype(np.float64)  # [out, in]
    block = tuple(run.content("netviz/weights/fc")["block"])
    assert block == (2, 5)
    np.testing.assert_allclose(fc[0], block_pool(kernel, block), rtol=1e-6, atol=1e-7)
    out = run.values("netviz/weights/out")[-1][1]  # 4 x 300: only the columns are pooled
    out_kernel = model.get_layer("out").kernel.numpy().T.astype(np.float64)
    np.testing.assert_allclose(out[0], block_pool(out_kernel, (1, 2)), rtol=1e-6, atol=1e-7)
    assert run.content("netviz/weights/out")["block"] == [1, 2]


def test_the_default_embedding_is_the_input_of_the_last_dense_layer_projected_by_pca(tmp_path):
    model = many_convs()
    fit(model, tmp_path, epochs=1)
    features = keras.Model(model.input, model.get_layer("fc").output)(X[:10], training=False)
    expected, ratio = principal_components(np.asarray(features, np.float64))
    run = Run(tmp_path)
    stored = run.values("netviz/embedding/out")
    assert [step for step, _ in stored] == [0, 2]  # 3 steps, sampled every 2
    rows = stored[-1][1]
    for k in range(3):  # aligned to the previous step: each column is one component, up to its sign
        match = int(np.argmax(np.abs(expected.T @ rows[:10, k])))
        sign = np.sign(rows[:10, k] @ expected[:, match])
        np.testing.assert_allclose(rows[:10, k], sign * expected[:, match], rtol=2e-3, atol=2e-3)
        assert rows[10, k] == pytest.approx(ratio[match], rel=1e-3)
    predicted = np.asarray(model(X[:10], training=False)).argmax(axis=1)
    np.testing.assert_array_equal(rows[:10, 3], predicted)
    content = run.content("netviz/embedding/out")
    assert content["of"] == "input" and content["features"] == 300 and content["label_source"] == "predicted"
    assert rows[10, :3].sum() <= 1.0 + 1e-6


def test_sample_labels_colour_the_points(tmp_path):
    model = many_convs()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    callback = NetVizCallback(tmp_path, sample_batch=X[:10], sample_labels=labels, embedding_layer="fc")
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    run = Run(tmp_path)
    np.testing.assert_array_equal(run.values("netviz/embedding/fc")[0][1][:10, 3], labels)
    assert run.content("netviz/embedding/fc")["label_source"] == "sample_labels"


def test_bad_weight_and_embedding_options_fail_when_fit_starts(tmp_path):
    model = many_convs()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    cases = [
        ({"weight_layers": ["conv*"]}, X[:4], r"weight_layers pattern 'conv\*' matches no layer"),
        ({"embedding_layer": "fcc"}, X[:4], r"embedding_layer 'fcc' is no layer of model"),
        ({"embedding_layer": "fc"}, X[:1], r"PCA needs at least 2"),
    ]
    for options, batch, message in cases:
        with pytest.raises(ValueError, match=message):
            model.fit(
                X, Y, epochs=1, verbose=0, callbacks=[NetVizCallback(tmp_path, sample_batch=batch, **options)]
            )


def test_an_embedding_layer_whose_output_is_not_a_tensor_fails_when_fit_starts(tmp_path):
    x = keras.Input((5, 3))
    sequence, state = keras.layers.GRU(4, return_state=True, name="gru")(x)
    model = keras.Model(x, keras.layers.Dense(2, name="out")(sequence + state))
    model.compile(optimizer="sgd", loss="mse")
    data = RNG.normal(size=(6, 5, 3)).astype(np.float32)
    callback = NetVizCallback(tmp_path, sample_batch=data[:3], embedding_layer="gru")
    with pytest.raises(ValueError, match=r"the embedding layer 'gru' gives a (list|tuple), not a tensor"):
        model.fit(data, np.zeros((6, 2), np.float32), epochs=1, verbose=0, callbacks=[callback])


def test_the_budget_leaves_out_layers_with_one_warning_and_training_goes_on(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(many_convs(), tmp_path, epochs=1, weight_budget_bytes=30_000, projector=False)
    said = [str(w.message) for w in caught if issubclass(w.category, NetVizWriteWarning)]
    assert len(said) == 1 and "the weights of ['fc'] are not written" in said[0]
    tags = Run(tmp_path).tags
    assert "netviz/weights/c2_last" in tags and "netviz/weights/fc" not in tags
    assert not (tmp_path / "projector_config.pbtxt").exists()


def test_without_a_probe_batch_the_weights_are_written_at_the_reads_after_sample_steps(tmp_path):
    model = many_convs()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    callback = NetVizCallback(tmp_path, log_every_n_steps=1, sample_every_n_steps=2)
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    run = Run(tmp_path)
    stored = run.values("netviz/weights/c2_last")
    assert [step for step, _ in stored] == [0, 2, 5]  # the first read, then the epoch ends (steps 0-2, 3-5)
    final = model.get_layer("c2_last").kernel.numpy().transpose(3, 2, 0, 1)[:16]
    np.testing.assert_array_equal(stored[-1][1][0], final)
    assert not any(tag.startswith("netviz/embedding/") for tag in run.tags)
