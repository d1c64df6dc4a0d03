"""Grad-CAM of the probe batch in Keras: one inference call under a ``tf.GradientTape``.

The same definition as the torch side (``tb_netviz.torch.gradcam``): for each
target layer with output ``A`` and the score ``y`` of the class explained for
each sample, the map is ``ReLU(sum_c mean_hw(dy/dA)_c * A_c)``, bilinearly
upsampled (half-pixel centres, as torch's ``align_corners=False``) to the probe
image's ``H x W``. The target layers' ``call`` is intercepted on the instances
for the pass (as the probe pass does), and their outputs are watched by the
tape, so frozen layers (``trainable=False``) get maps too; the gradient is
taken with respect to those outputs only, so no variable, the optimizer and
the train function are untouched. It works for Sequential, functional and
subclassed models, whatever ``jit_compile`` the training step uses (the pass
is an eager inference call), and under mixed precision (maps computed in float32).

Layouts: outputs are ``[N, H, W, C]``, or ``[N, C, H, W]`` for a layer with
``data_format="channels_first"``; ``gradcam_reshape`` returns ``[N, H, W, C]``.
The probe image is the batch's first 4-D floating array, channels-last unless
the first target layer is channels-first.

Example:
    >>> import keras, numpy as np
    >>> from tb_netviz.summary import CaptureOptions
    >>> model = keras.Sequential([
    ...     keras.Input((4, 4, 1)), keras.layers.Conv2D(3, 3, padding="same", name="conv"),
    ...     keras.layers.Flatten(), keras.layers.Dense(2, name="out")])
    >>> gradcam = GradCam(model, CaptureOptions(gradcam=True), np.random.rand(2, 4, 4, 1).astype("float32"))
    >>> result = gradcam.run()
    >>> gradcam.layer_names, result.maps["conv"].shape, result.classes.shape
    (['conv'], (2, 4, 4), (2,))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tb_netviz.keras.layers import intercepting_calls, layer_name, sublayers
from tb_netviz.summary import CaptureOptions
from tb_netviz.summary.gradcam import PROBABILITY_TOLERANCE, GradCamError

CONV_2D = (
    keras.layers.Conv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
)


@dataclasses.dataclass
class GradCamResult:
    """One pass, on the host: float32 maps ``[N, H, W]`` by layer, classes and probabilities ``[N]``."""

    maps: dict[str, np.ndarray]
    classes: np.ndarray
    probabilities: np.ndarray


class GradCam:
    """Grad-CAM maps of ``sample_batch`` for the layers ``options`` choose.

    Args:
        model: a built Keras model (the callback has run it on the batch).
        options: ``gradcam_layers``, ``gradcam_target`` and ``gradcam_reshape`` are read.
        sample_batch: the probe batch.
        sample_labels: int64 ``[N]`` true classes (needed for ``gradcam_target="label"``).

    Raises:
        GradCamError: no image in the batch, a pattern matching no layer, no conv
            layer for the default, or ``"label"`` without ``sample_labels``.
    """

    def __init__(
        self, model: keras.Model, options: CaptureOptions, sample_batch: Any, sample_labels: Any = None
    ) -> None:
        self.model = model
        self.target = options.gradcam_target
        self.reshape = options.gradcam_reshape
        self.sample_batch = sample_batch
        if self.target == "label" and sample_labels is None:
            raise GradCamError("gradcam_target='label' needs sample_labels (the true class of each sample)")
        self.labels = None if sample_labels is None else np.asarray(sample_labels, np.int64)
        order = self._call_order()
        names = [layer_name(layer, model) for layer in order]
        convs = [name for name, layer in zip(names, order, strict=True) if isinstance(layer, CONV_2D)]
        try:
            chosen = set(options.select_gradcam_layers(names, convs[-1] if convs else None))
        except ValueError as error:
            raise GradCamError(str(error)) from None
        picked = [(name, layer) for name, layer in zip(names, order, strict=True) if name in chosen]
        self.layer_names = [name for name, _ in picked]
        self._layers = [layer for _, layer in picked]
        channels_first = getattr(self._layers[0], "data_format", None) == "channels_first"
        self.images = probe_images(sample_batch, channels_first)

    def run(self) -> GradCamResult:
        """One Grad-CAM pass over the probe batch.

        Raises:
            GradCamError: a layer output without two spatial axes (naming layer and
                shape), a model output that is not ``[N, classes]`` scores, a target
                class out of range, or a layer the output does not depend on.
        """
        kept: dict[int, tf.Tensor] = {}
        index_of = {id(layer): i for i, layer in enumerate(self._layers)}
        with tf.GradientTape() as tape:

            def keep(layer: Any, call: Any, args: tuple, kwargs: dict) -> Any:
                result = call(*args, **kwargs)
                index = index_of[id(layer)]
                if index not in kept:
                    tensor = keras.tree.flatten(result)[0]
                    tape.watch(tensor)
                    kept[index] = tensor
                return result

            with intercepting_calls(self._layers, keep):
                output = self.model(self.sample_batch, training=False)
            scores = _class_scores(output)
            classes = self._classes(scores)
            chosen = tf.reduce_sum(tf.gather(scores, classes, axis=1, batch_dims=1))
        missing = [self.layer_names[i] for i in range(len(self._layers)) if i not in kept]
        if missing:
            raise GradCamError(f"gradcam layers {missing} were not called by the forward pass")
        outputs = [kept[i] for i in range(len(self._layers))]
        grads = tape.gradient(chosen, outputs)
        maps = {
            name: self._map(name, layer, output, grad)
            for name, layer, output, grad in zip(self.layer_names, self._layers, outputs, grads, strict=True)
        }
        probabilities = np.take_along_axis(_probabilities(scores.numpy()), classes[:, None], axis=1)[:, 0]
        return GradCamResult(maps, classes, probabilities.astype(np.float32))

    def _map(self, name: str, layer: Any, output: tf.Tensor, grad: tf.Tensor | None) -> np.ndarray:
        if grad is None:
            raise GradCamError(f"the model output does not depend on gradcam layer {name!r}")
        if self.reshape is not None:
            output, grad = self.reshape(output), self.reshape(grad)
        elif getattr(layer, "data_format", None) == "channels_first" and len(output.shape) == 4:
            output, grad = tf.transpose(output, (0, 2, 3, 1)), tf.transpose(grad, (0, 2, 3, 1))
        if len(output.shape) != 4 or tuple(output.shape) != tuple(grad.shape):
            hint = "" if self.reshape is not None else "; for token outputs give gradcam_reshape"
            raise GradCamError(
                f"gradcam layer {name!r} gives shape {list(output.shape)}, which is not "
                f"[N, H, W, C] (two spatial axes){hint}"
            )
        output, grad = tf.cast(output, tf.float32), tf.cast(grad, tf.float32)
        weights = tf.reduce_mean(grad, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * output, axis=-1, keepdims=True))
        upsampled = tf.image.resize(cam, self.images.shape[1:3], method="bilinear", antialias=False)
        return upsampled.numpy()[..., 0]

    def _classes(self, scores: tf.Tensor) -> np.ndarray:
        count, samples = int(scores.shape[1]), int(scores.shape[0])
        if self.target == "predicted":
            return np.argmax(scores.numpy(), axis=1).astype(np.int64)
        if self.target == "label":
            largest = int(self.labels.max())
            if largest >= count:
                raise GradCamError(
                    f"sample_labels has class {largest} but the model gives {count} class scores"
                )
            return self.labels
        if self.target >= count:
            raise GradCamError(
                f"gradcam_target={self.target} is out of range: the model gives {count} classes"
            )
        return np.full((samples,), self.target, np.int64)

    def _call_order(self) -> list[Any]:
        layers = sublayers(self.model)
        order: list[Any] = []
        seen: set[int] = set()

        def record(layer: Any, call: Any, args: tuple, kwargs: dict) -> Any:
            if id(layer) not in seen:
                seen.add(id(layer))
                order.append(layer)
            return call(*args, **kwargs)

        with intercepting_calls(layers, record):
            self.model(self.sample_batch, training=False)
        return order


def probe_images(batch: Any, channels_first: bool = False) -> np.ndarray:
    """The batch's first 4-D floating array as host ``[N, H, W, C]`` (moved from channels-first if so).

    Raises:
        GradCamError: the batch holds no such array.

    >>> probe_images((np.zeros((2, 5)), np.zeros((2, 3, 8, 8))), channels_first=True).shape
    (2, 8, 8, 3)
    """
    leaves = [np.asarray(leaf) for leaf in keras.tree.flatten(batch)]
    for leaf in leaves:
        if leaf.ndim == 4 and np.issubdtype(leaf.dtype, np.floating):
            return np.moveaxis(leaf, 1, -1) if channels_first else leaf
    shapes = [list(leaf.shape) for leaf in leaves]
    raise GradCamError(
        f"gradcam needs an image batch [N, H, W, C] in sample_batch, got arrays of shapes {shapes}"
    )


def _class_scores(output: Any) -> tf.Tensor:
    scores = keras.tree.flatten(output)[0] if not isinstance(output, tf.Tensor) else output
    if len(scores.shape) != 2:
        raise GradCamError(
            f"gradcam needs the model to return class scores [N, classes], got {list(scores.shape)}"
        )
    return tf.cast(scores, tf.float32)


def _probabilities(scores: np.ndarray) -> np.ndarray:
    sums = scores.sum(axis=1)
    if np.all((scores >= 0) & (scores <= 1)) and np.all(np.abs(sums - 1) <= PROBABILITY_TOLERANCE):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
