"""Per-layer GRADIENT_STATS of one training step in a few TensorFlow ops.

On CPU each op of the traced step costs the executor a few microseconds besides
its work, so the op count matters as much as the passes over memory. Here every
gradient tensor gets four ops (its sum of squares as one fused ``l2_loss``,
``|g|`` once, its sum and its max) and every weight one (``l2_loss``); the
per-tensor scalars are stacked and summed (or maxed) into their layers with one
segment reduction per kind, and the columns are vector ops over all layers at
once. The per-layer bookkeeping (which tensor belongs to which row, entry
counts, rows without a gradient) is worked out in Python when the step is traced.

NaN and Inf entries are counted without a pass of their own in normal steps: if
a gradient holds one, the sum of squares of all gradients is not finite. Only
then (or when finite squares overflowed float32) does one ``tf.cond`` count them
per tensor, so the count is exact whenever it is not zero.

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

import numpy as np
import tensorflow as tf

from tb_netviz.keras.layers import WeightLayer
from tb_netviz.summary.columns import GRADIENT_STATS, describe_missing_gradient

_COL = {name: index for index, name in enumerate(GRADIENT_STATS)}


class LayerGradientStatistics:
    """The ``[L, S]`` GRADIENT_STATS rows of ``layers`` and the global gradient norm, in-graph.

    Args:
        layers: the rows, in this order.
        gradient_of: the float32 gradient of each variable that has one, keyed by
            ``id(variable)``; the global norm covers all of them, also the
            gradients of variables outside ``layers``.
    """

    def __init__(self, layers: Sequence[WeightLayer], gradient_of: Mapping[int, tf.Tensor]) -> None:
        self.layers = list(layers)
        self.gradients = list(gradient_of.values())
        position = {key: index for index, key in enumerate(gradient_of)}
        # One entry per (row, gradient) pair: a variable shared by two layers counts in both.
        self._entry_gradient = []
        self._entry_row = []
        self._weights = []
        self._weight_row = []
        for row, layer in enumerate(self.layers):
            for variable in layer.variables:
                self._weights.append(variable)
                self._weight_row.append(row)
                if id(variable) in position:
                    self._entry_gradient.append(position[id(variable)])
                    self._entry_row.append(row)
        self._measured = sorted(set(self._entry_gradient))  # gradients whose |g| is needed
        self._entry_measured = [self._measured.index(i) for i in self._entry_gradient]
        has_grad = np.zeros(len(self.layers), bool)
        has_grad[self._entry_row] = True
        # Columns a row without any gradient takes from the computed table: param_l2 only.
        self._computed = has_grad[:, None] | (np.arange(len(GRADIENT_STATS)) == _COL["param_l2"])[None, :]
        self._has_grad = has_grad

    def compute(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The float32 rows ``[layers, GRADIENT_STATS]`` and the global norm (NaN without gradients)."""
        if self.gradients:
            square_sums = _square_sums(self.gradients)
            global_square_sum = tf.reduce_sum(square_sums)
            norm = tf.sqrt(global_square_sum)
        else:
            square_sums, global_square_sum, norm = None, tf.constant(0.0), tf.constant(math.nan)
        if not self.layers:
            return tf.zeros([0, len(GRADIENT_STATS)]), norm
        per_row = self._row_sums(square_sums, global_square_sum)
        param_l2 = tf.sqrt(
            self._segment_sum(_square_sums([_tensor(w) for w in self._weights]), self._weight_row)
        )
        grad_l2 = tf.sqrt(per_row["square_sum"])
        columns = {
            "grad_l2": grad_l2,
            "grad_mean_abs": per_row["abs_sum"] / self._entry_counts(),
            "grad_max_abs": per_row["abs_max"],
            "param_l2": param_l2,
            "grad_to_param": grad_l2 / param_l2,
            "grad_nonfinite": per_row["nonfinite"],
            "has_grad": tf.constant(self._has_grad.astype(np.float32)),
        }
        table = tf.stack([columns[name] for name in GRADIENT_STATS], axis=1)
        missing = np.tile(np.asarray(describe_missing_gradient(), np.float32), (len(self.layers), 1))
        return tf.where(tf.constant(self._computed), table, tf.constant(missing)), norm

    def _row_sums(self, square_sums: tf.Tensor | None, global_square_sum: tf.Tensor) -> dict[str, tf.Tensor]:
        if not self._entry_gradient:
            zeros = tf.zeros([len(self.layers)])
            return {"square_sum": zeros, "abs_sum": zeros, "abs_max": zeros, "nonfinite": zeros}
        measured = [self.gradients[i] for i in self._measured]
        magnitudes = [tf.abs(g) for g in measured]
        abs_sums = tf.stack([tf.reduce_sum(m) for m in magnitudes])
        abs_maxes = tf.stack([tf.reduce_max(m) for m in magnitudes])
        nonfinite = tf.cond(
            tf.math.is_finite(global_square_sum),
            lambda: tf.zeros([len(measured)]),
            lambda: tf.stack([_nonfinite_count(g) for g in measured]),
        )
        entries = tf.stack(
            [
                tf.gather(square_sums, self._entry_gradient),
                tf.gather(abs_sums, self._entry_measured),
                tf.gather(nonfinite, self._entry_measured),
            ],
            axis=1,
        )
        summed = self._segment_sum(entries, self._entry_row)
        abs_max = tf.math.unsorted_segment_max(
            tf.gather(abs_maxes, self._entry_measured),
            tf.constant(self._entry_row, tf.int32),
            len(self.layers),
        )
        return {
            "square_sum": summed[:, 0],
            "abs_sum": summed[:, 1],
            "abs_max": abs_max,
            "nonfinite": summed[:, 2],
        }

    def _segment_sum(self, data: tf.Tensor, rows: list[int]) -> tf.Tensor:
        return tf.math.unsorted_segment_sum(data, tf.constant(rows, tf.int32), len(self.layers))

    def _entry_counts(self) -> tf.Tensor:
        if not self._entry_gradient:
            return tf.ones([len(self.layers)])  # every row is "no gradient"; nothing is divided
        sizes = [self.gradients[i].shape.num_elements() for i in self._entry_gradient]
        if None in sizes:
            entry_sizes = tf.stack(
                [tf.cast(tf.size(self.gradients[i]), tf.float32) for i in self._entry_gradient]
            )
        else:
            entry_sizes = tf.constant(sizes, tf.float32)
        return self._segment_sum(entry_sizes, self._entry_row)


def _square_sums(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    # l2_loss is one fused kernel (sum of squares / 2); the factor 2 is applied once to the stack.
    return 2.0 * tf.stack([tf.nn.l2_loss(t) for t in tensors])


def _nonfinite_count(gradient: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.math.count_nonzero(tf.logical_not(tf.math.is_finite(gradient))), tf.float32)


def _tensor(variable: Any) -> tf.Tensor:
    value = getattr(variable, "value", variable)
    return tf.cast(tf.convert_to_tensor(value), tf.float32)
