"""Per-layer GRADIENT_STATS of one training step, as TensorFlow ops of the traced step.

Each gradient tensor is read a few times: its sum of squares is one fused
``l2_loss``, ``|g|`` is formed once for its sum and its max; each weight gets
one ``l2_loss``. The per-tensor sums are then added (or maxed) into their layers.
These ops depend only on their own gradient, so the executor runs them while
the rest of the backward pass is still going. (Gathering the per-tensor sums of
all layers into segment reductions, about a third fewer ops, was measured no
faster inside the training step: see docs/bench/keras.md.) Which tensor belongs
to which row is worked out in Python when the step is traced.

NaN and Inf entries are counted without a pass of their own in normal steps: a
tensor that holds one has a sum of squares that is not finite. Only then (or
when finite squares overflowed float32) does a ``tf.cond`` count them, so the
count is exact whenever it is not zero; the same branch recomputes the
tensor's norm in float64, so a finite gradient whose float32 squares overflow
(norm above ~1.8e19) keeps its finite norm. Norms are combined into layers and
the global norm in float64, so that combining cannot overflow either.

Example:
    >>> import keras, numpy as np, tensorflow as tf
    >>> from tb_netviz.keras.layers import weight_layers
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="fc")])
    >>> fc = weight_layers(model)[0]
    >>> kernel, bias = fc.variables
    >>> _ = kernel.assign([[3.0], [4.0]])
    >>> gradients = {id(kernel): tf.constant([[3.0], [-4.0]]), id(bias): tf.constant([0.0])}
    >>> rows, global_norm = LayerGradientStatistics([fc], gradients).compute()
    >>> dict(zip(GRADIENT_STATS, rows.numpy()[0].tolist()))["grad_max_abs"], float(global_norm)
    (4.0, 5.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from tb_netviz.keras.layers import WeightLayer
from tb_netviz.summary.columns import GRADIENT_STATS, describe_missing_gradient

# Per-tensor partials, in this order.
_NORM, _ABS_SUM, _ABS_MAX, _NONFINITE, _COUNT = range(5)


class LayerGradientStatistics:
    """The ``[L, S]`` GRADIENT_STATS rows of ``layers`` and the global gradient norm, in-graph.

    Args:
        layers: the rows, in this order.
        gradient_of: the float32 gradient of each variable that has one, keyed by
            ``id(variable)``; the global norm covers all of them, also the
            gradients of variables outside ``layers``. A variable shared by two
            layers counts in both rows.
    """

    def __init__(self, layers: Sequence[WeightLayer], gradient_of: Mapping[int, tf.Tensor]) -> None:
        self.layers = list(layers)
        self.gradient_of = dict(gradient_of)

    def compute(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The float32 rows ``[layers, GRADIENT_STATS]`` and the global norm (NaN without gradients)."""
        shown = {id(v) for layer in self.layers for v in layer.variables if id(v) in self.gradient_of}
        partials = {key: _partial_sums(g) for key, g in self.gradient_of.items() if key in shown}
        norms = [p[_NORM] for p in partials.values()]
        norms += [tf.sqrt(_square_sum(g)) for key, g in self.gradient_of.items() if key not in shown]
        norm = _combined_norm(tf.stack(norms)) if norms else tf.constant(math.nan)
        rows = [self._row(layer, partials) for layer in self.layers]
        return (tf.stack(rows) if rows else tf.zeros([0, len(GRADIENT_STATS)])), norm

    def _row(self, layer: WeightLayer, partials: dict[int, tf.Tensor]) -> tf.Tensor:
        param_l2 = tf.sqrt(tf.add_n([_square_sum(_tensor(v)) for v in layer.variables]))
        own = [partials[id(v)] for v in layer.variables if id(v) in partials]
        if not own:
            row = [tf.constant(value, tf.float32) for value in describe_missing_gradient()]
            row[GRADIENT_STATS.index("param_l2")] = param_l2
            return tf.stack(row)
        stacked = tf.stack(own)
        sums = tf.reduce_sum(stacked, axis=0)
        grad_l2 = _combined_norm(stacked[:, _NORM])
        columns = {
            "grad_l2": grad_l2,
            "grad_mean_abs": sums[_ABS_SUM] / sums[_COUNT],
            "grad_max_abs": tf.reduce_max(stacked[:, _ABS_MAX]),
            "param_l2": param_l2,
            "grad_to_param": grad_l2 / param_l2,
            "grad_nonfinite": sums[_NONFINITE],
            "has_grad": tf.constant(1.0),
        }
        return tf.stack([columns[name] for name in GRADIENT_STATS])


def _partial_sums(gradient: tf.Tensor) -> tf.Tensor:
    square_sum = _square_sum(gradient)
    magnitude = tf.abs(gradient)

    def exact() -> tuple[tf.Tensor, tf.Tensor]:
        squares = tf.reduce_sum(tf.square(tf.cast(gradient, tf.float64)))
        nonfinite = tf.math.count_nonzero(tf.logical_not(tf.math.is_finite(gradient)))
        return tf.cast(tf.sqrt(squares), tf.float32), tf.cast(nonfinite, tf.float32)

    norm, nonfinite = tf.cond(
        tf.math.is_finite(square_sum), lambda: (tf.sqrt(square_sum), tf.constant(0.0)), exact
    )
    count = tf.cast(tf.size(gradient), tf.float32)
    return tf.stack([norm, tf.reduce_sum(magnitude), tf.reduce_max(magnitude), nonfinite, count])


def _combined_norm(norms: tf.Tensor) -> tf.Tensor:
    """The L2 norm of tensors with these norms; squared in float64, where no float32 norm overflows."""
    squares = tf.square(tf.cast(norms, tf.float64))
    return tf.cast(tf.sqrt(tf.reduce_sum(squares)), tf.float32)


def _square_sum(tensor: tf.Tensor) -> tf.Tensor:
    return 2.0 * tf.nn.l2_loss(tensor)  # l2_loss is one fused kernel: sum of squares / 2


def _tensor(variable: Any) -> tf.Tensor:
    value = getattr(variable, "value", variable)
    return tf.cast(tf.convert_to_tensor(value), tf.float32)
