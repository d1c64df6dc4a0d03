"""Grad-CAM in Keras: the maps equal a hand-written GradientTape reference for the three model styles."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_netviz.keras import NetVizCallback
from tb_netviz.keras.gradcam import GradCam
from tb_netviz.summary import CaptureOptions
from tb_netviz.summary.gradcam import GRADCAM_TARGETS_TAG, PROBE_INPUTS_TAG, gradcam_tag
from tests.keras_capture.netviz_events import read_run

CLASSES = 4


def _layers():
    return [
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Conv2D(8, 3, padding="same", name="conv2"),
        keras.layers.Activation("relu", name="relu2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(CLASSES, name="out"),
    ]


def sequential():
    return keras.Sequential([keras.Input((8, 8, 3)), *_layers()], name="seq")


def functional():
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for layer in _layers():
        x = layer(x)
    return keras.Model(inputs, x, name="func")


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="sub")
        self.conv1, self.pool, self.conv2, self.relu2, self.flatten, self.out = _layers()

    def features(self, x):
        return self.conv2(self.pool(self.conv1(x)))

    def classify(self, maps):
        return self.out(self.flatten(self.relu2(maps)))

    def call(self, x):
        return self.classify(self.features(x))


def reference_maps(model, x, classes):
    """Grad-CAM of conv1 and conv2 written out by hand: split the model at the layers, tape the pieces."""
    with tf.GradientTape(persistent=True) as tape:
        first = model.conv1(x) if isinstance(model, Subclassed) else model.get_layer("conv1")(x)
        tape.watch(first)
        layer = (lambda name: getattr(model, name)) if isinstance(model, Subclassed) else model.get_layer
        second = layer("conv2")(layer("pool")(first))
        tape.watch(second)
        scores = layer("out")(layer("flatten")(layer("relu2")(second)))
        chosen = tf.reduce_sum(tf.gather(scores, classes, axis=1, batch_dims=1))
    maps = {}
    for name, activation in (("conv1", first), ("conv2", second)):
        grad = tape.gradient(chosen, activation).numpy()
        cam = np.maximum(np.einsum("nc,nhwc->nhw", grad.mean(axis=(1, 2)), activation.numpy()), 0)
        maps[name] = tf.image.resize(cam[..., None], (8, 8), method="bilinear").numpy()[..., 0]
    return maps, scores.numpy()


def _fit(model, log_dir, x, y, *, jit_compile=False, **options):
    model.compile(
        keras.optimizers.SGD(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    callback = NetVizCallback(log_dir, sample_batch=x[:5], sample_labels=y[:5], gradcam=True, **options)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    return read_run(log_dir)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(24, 8, 8, 3)).astype("float32"), rng.integers(0, CLASSES, 24)


@pytest.mark.parametrize(
    "build", [sequential, functional, Subclassed], ids=["sequential", "functional", "subclassed"]
)
def test_maps_equal_a_gradient_tape_reference_in_every_model_style(tmp_path, data, build):
    x, y = data
    keras.utils.set_random_seed(0)
    model = build()
    run = _fit(model, tmp_path, x, y, gradcam_layers=["conv1", "conv2"], gradcam_target="label")
    expected, scores = reference_maps(model, x[:5], y[:5])
    for name in ("conv1", "conv2"):
        steps = [logged.step for logged in run[gradcam_tag(name)]]
        assert steps == [0, 2], name  # the first step and the end of fit (3 steps)
        np.testing.assert_allclose(run[gradcam_tag(name)][-1].value, expected[name], rtol=1e-4, atol=1e-5)
        assert expected[name].max() > 0
    targets = run[GRADCAM_TARGETS_TAG][-1].value
    assert targets[:, 0].tolist() == y[:5].tolist()
    probabilities = tf.nn.softmax(scores).numpy()[np.arange(5), y[:5]]
    np.testing.assert_allclose(targets[:, 1], probabilities, rtol=1e-5)
    assert run[GRADCAM_TARGETS_TAG][0].content["labels"] == y[:5].tolist()
    [inputs] = run[PROBE_INPUTS_TAG]
    assert inputs.value.shape == (5, 8, 8, 3) and inputs.step == 0


def test_default_is_the_last_conv_layer_and_the_predicted_class_under_jit_compile(tmp_path, data):
    x, y = data
    keras.utils.set_random_seed(1)
    model = functional()
    run = _fit(model, tmp_path, x, y, jit_compile=True)
    assert {tag for tag in run if tag.startswith("netviz/gradcam/")} == {gradcam_tag("conv2")}
    predicted = np.argmax(model(x[:5]).numpy(), axis=1)
    expected, _ = reference_maps(model, x[:5], predicted)
    np.testing.assert_allclose(run[gradcam_tag("conv2")][-1].value, expected["conv2"], rtol=1e-4, atol=1e-5)
    assert run[GRADCAM_TARGETS_TAG][-1].value[:, 0].tolist() == predicted.tolist()


def test_mixed_precision_maps_follow_the_float16_model(tmp_path, data):
    x, y = data
    keras.utils.set_random_seed(2)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = sequential()
        run = _fit(model, tmp_path, x, y, gradcam_target=1)
        expected, _ = reference_maps(model, x[:5], np.full(5, 1))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    maps = run[gradcam_tag("conv2")][-1].value
    assert maps.dtype == np.float32 and maps.max() > 0
    np.testing.assert_allclose(maps, expected["conv2"], rtol=2e-2, atol=2e-2 * expected["conv2"].max())


def test_frozen_layers_get_maps_and_no_variable_changes(data):
    x, _ = data
    model = sequential()
    model(x[:1])
    model.trainable = False
    before = [v.numpy().copy() for v in model.variables]
    result = GradCam(model, CaptureOptions(gradcam=True, gradcam_target=2), x[:5]).run()
    expected, _ = reference_maps(model, x[:5], np.full(5, 2))
    np.testing.assert_allclose(result.maps["conv2"], expected["conv2"], rtol=1e-4, atol=1e-5)
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.variables, strict=True))


def test_token_layer_with_reshape_equals_the_reference(data):
    x, _ = data
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    patches = keras.layers.Conv2D(8, 2, strides=2, name="embed")(inputs)
    tokens = keras.layers.Reshape((16, 8), name="tokens")(patches)
    mixed = keras.layers.MultiHeadAttention(2, 4, name="attn")(tokens, tokens)
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(mixed)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, name="out")(pooled))

    def grid(t):
        return tf.reshape(t, (-1, 4, 4, 8))

    options = CaptureOptions(gradcam=True, gradcam_layers=["tokens"], gradcam_reshape=grid)
    result = GradCam(model, options, x[:3]).run()
    sub = keras.Model(inputs, [model.get_layer("tokens").output, model.output])
    with tf.GradientTape() as tape:
        activation, scores = sub(x[:3])
        chosen = tf.reduce_sum(tf.gather(scores, np.argmax(scores.numpy(), 1), axis=1, batch_dims=1))
    grad = grid(tape.gradient(chosen, activation)).numpy()
    cam = np.maximum(np.einsum("nc,nhwc->nhw", grad.mean(axis=(1, 2)), grid(activation).numpy()), 0)
    expected = tf.image.resize(cam[..., None], (8, 8), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(result.maps["tokens"], expected, rtol=1e-4, atol=1e-6)
    assert expected.max() > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"gradcam_layers": ["out"]},
            r"gradcam layer 'out' gives shape \[5, 4\], which is not \[N, H, W, C\]",
        ),
        ({"gradcam_layers": ["nope*"]}, r"gradcam_layers pattern 'nope\*' matches no layer"),
        ({"gradcam_target": 7}, r"gradcam_target=7 is out of range: the model gives 4 classes"),
    ],
)
def test_bad_gradcam_options_fail_when_fit_starts(tmp_path, data, options, message):
    x, y = data
    with pytest.raises(ValueError, match=message):
        _fit(sequential(), tmp_path, x, y, **options)


def test_label_target_without_labels_is_refused_at_construction(tmp_path, data):
    x, _ = data
    with pytest.raises(ValueError, match="gradcam_target='label' needs sample_labels"):
        NetVizCallback(tmp_path, sample_batch=x[:2], gradcam=True, gradcam_target="label")
    with pytest.raises(ValueError, match="gradcam=True needs a sample_batch"):
        NetVizCallback(tmp_path, gradcam=True)


def test_a_failing_gradcam_pass_warns_once_and_fit_goes_on_with_the_other_views(tmp_path, data):
    from tb_netviz.summary import ACTIVATIONS_TAG, NetVizWriteWarning

    x, y = data
    calls = []

    def flaky_reshape(tensor):
        calls.append(1)
        if len(calls) > 2:  # the check when fit starts passes (output and gradient), later passes fail
            raise RuntimeError("reshape exploded")
        return tensor

    model = sequential()
    with pytest.warns(NetVizWriteWarning, match="Grad-CAM maps were not logged.*reshape exploded") as caught:
        run = _fit(model, tmp_path, x, y, gradcam_reshape=flaky_reshape)
    assert len([w for w in caught if issubclass(w.category, NetVizWriteWarning)]) == 1
    assert [logged.step for logged in run[ACTIVATIONS_TAG]] == [0, 2]
    assert not any(tag.startswith("netviz/gradcam/") for tag in run)


def test_channels_first_layers_give_the_same_maps_as_their_channels_last_reference(data):
    x, _ = data
    keras.utils.set_random_seed(4)
    inputs = keras.Input((3, 8, 8))
    maps = keras.layers.Conv2D(5, 3, padding="same", data_format="channels_first", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, name="out")(keras.layers.Flatten()(maps)))
    images = np.moveaxis(x[:4], -1, 1)
    gradcam = GradCam(model, CaptureOptions(gradcam=True, gradcam_target=0), images)
    result = gradcam.run()
    np.testing.assert_array_equal(gradcam.images, x[:4])  # the overlay's images are channels-last
    sub = keras.Model(inputs, [model.get_layer("conv").output, model.output])
    with tf.GradientTape() as tape:
        activation, scores = sub(images)
        chosen = tf.reduce_sum(scores[:, 0])
    grad = tape.gradient(chosen, activation).numpy()  # [N, C, H, W]
    cam = np.maximum(np.einsum("nc,nchw->nhw", grad.mean(axis=(2, 3)), activation.numpy()), 0)
    expected = tf.image.resize(cam[..., None], (8, 8), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(result.maps["conv"], expected, rtol=1e-4, atol=1e-6)
    assert expected.max() > 0
