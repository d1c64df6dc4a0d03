"""Gradient statistics from the real ``model.fit`` step, computed in-graph.

``GradientCapture`` overrides the optimizer's ``apply`` on the instance, and only
while Keras's train function runs (that is when it is traced), so the traced
step computes per-layer statistics of exactly the gradients the optimizer
applies and writes them into one stacked variable. Outside those calls the
optimizer is untouched; nothing is added to the model.

The variable is a ring buffer ``[slots, L + 1, S]`` indexed by ``step % slots``,
so each of the last ``slots`` steps keeps its row until the host reads the
buffer with one ``.numpy()``; the callback reads it at most every ``slots``
steps (a whole number of executions when ``steps_per_execution > 1``). Row
``L`` of each slot is the step's metadata (``META_COLUMNS``).

Which gradients are measured:
    * the gradients handed to ``optimizer.apply`` / ``apply_gradients``, before
      the update, with the weights they were computed for (``param_l2``);
    * with a ``LossScaleOptimizer``, those the inner optimizer receives: unscaled.
      A step whose scaled gradients overflow is skipped by Keras (the inner
      optimizer's iteration count does not advance); it is counted in
      ``skipped_overflow_steps`` and has no row;
    * under ``tf.distribute.MirroredStrategy``, the aggregated gradient: the sum
      over replicas of the per-replica gradients (Keras scales each replica's
      loss by 1 / replicas), i.e. the gradient of the global batch that the
      optimizer applies. Measuring it costs one extra all-reduce per step;
    * with ``gradient_accumulation_steps=k`` on the optimizer, the mean of the k
      micro-batch gradients that the optimizer applies at every k-th call
      (its accumulators plus the last micro-batch's, divided by k); the micro-steps
      that only accumulate have no row of their own. (Keras itself does not run
      gradient accumulation under ``MirroredStrategy``.)

The step of a row is ``optimizer.iterations`` before the update (0-based).

Example:
    >>> import keras, numpy as np
    >>> from tb_netviz.keras.layers import weight_layers
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="fc")])
    >>> model.compile("sgd", "mse")
    >>> capture = GradientCapture(model, weight_layers(model))
    >>> model.make_train_function(force=True)
    >>> with capture.installed():
    ...     _ = model.train_on_batch(np.ones((4, 3)), np.zeros((4, 1)))
    >>> [(r.step, r.layers) for r in capture.read()]
    [(0, ['fc'])]
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tb_netviz.keras.gradient_statistics import LayerGradientStatistics
from tb_netviz.keras.layers import WeightLayer, instance_override, intercepting_calls
from tb_netviz.summary.columns import GRADIENT_STATS

META_COLUMNS = ("step", "global_grad_norm", "logged", "skipped_overflow_steps", "sampled")
_STATS = len(GRADIENT_STATS)


@dataclasses.dataclass
class StepRecord:
    """The gradient statistics of one optimizer step, as read from the buffer."""

    step: int
    layers: list[str]
    values: np.ndarray  # [L, S] in GRADIENT_STATS order; NaN rows when not logged
    logged: bool
    global_grad_norm: float
    skipped_overflow_steps: int
    sampled: bool


class GradientCapture:
    """Per-layer gradient statistics of the steps a Keras train function runs.

    Args:
        model: a compiled Keras model on the TensorFlow backend.
        layers: the rows, in any order (they are put in first-call order).
        log_every_n_steps: statistics are computed at steps where ``step % n == 0``;
            other steps only record their step number.
        slots: ring-buffer length: how many steps may run between two reads.
        sample_every_n_steps: with ``keep_gradients``, the steps whose gradients are copied.
        keep_gradients: also keep each layer's last sampled gradient (for histograms).
    """

    def __init__(
        self,
        model: keras.Model,
        layers: Sequence[WeightLayer],
        *,
        log_every_n_steps: int = 1,
        slots: int = 1,
        sample_every_n_steps: int = 100,
        keep_gradients: bool = False,
    ) -> None:
        self.layers = list(layers)
        self.log_every_n_steps = int(log_every_n_steps)
        self.sample_every_n_steps = int(sample_every_n_steps)
        self.slots = int(slots)
        self.loss_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        self.outer_optimizer = model.optimizer
        self.optimizer = model.optimizer.inner_optimizer if self.loss_scaled else model.optimizer
        self._call_order: list[int] | None = None
        self.last_read_step = -1  # the newest step ``read_new`` has returned
        with model.distribute_strategy.scope():
            self.buffer = _replica_variable(
                np.full((self.slots, len(self.layers) + 1, _STATS), np.nan, np.float32), "netviz_grad_stats"
            )
            self.skipped = _replica_variable(np.float32(0), "netviz_skipped_overflow_steps")
            self.gradient_copies = (
                [
                    _replica_variable(np.full(layer.parameter_count, np.nan, np.float32), "netviz_grad_copy")
                    for layer in self.layers
                ]
                if keep_gradients
                else []
            )

    @property
    def row_order(self) -> list[int]:
        """Buffer rows in data-flow order: first-call order in the traced step, then the rest."""
        called = self._call_order or []
        return called + [row for row in range(len(self.layers)) if row not in called]

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """While active, a traced train step records its gradient statistics.

        The first time, layer calls are also watched to learn the data-flow order.
        Everything is restored on exit, also when the step raises.
        """
        with contextlib.ExitStack() as stack:
            stack.enter_context(
                instance_override(self.optimizer, "apply", self._recording_apply(self.optimizer.apply))
            )
            if self.loss_scaled:
                outer = self.outer_optimizer
                stack.enter_context(instance_override(outer, "apply", self._counting_apply(outer.apply)))
            if self._call_order is None:
                seen: list[int] = []
                stack.enter_context(
                    intercepting_calls([layer.layer for layer in self.layers], self._order_recorder(seen))
                )
                stack.callback(self._keep_order, seen)
            yield

    def read(self) -> list[StepRecord]:
        """Every step held in the buffer, oldest first (one host transfer)."""
        buffer = tf.convert_to_tensor(self.buffer).numpy()
        order = self.row_order
        names = [self.layers[row].name for row in order]
        records = []
        for slab in buffer:
            meta = dict(zip(META_COLUMNS, slab[-1][: len(META_COLUMNS)], strict=True))
            if not math.isfinite(meta["step"]):
                continue
            records.append(
                StepRecord(
                    step=int(meta["step"]),
                    layers=names,
                    values=slab[:-1][order],
                    logged=bool(meta["logged"]),
                    global_grad_norm=float(meta["global_grad_norm"]),
                    skipped_overflow_steps=int(meta["skipped_overflow_steps"]),
                    sampled=bool(meta["sampled"]),
                )
            )
        return sorted(records, key=lambda record: record.step)

    def read_new(self) -> list[StepRecord]:
        """The steps held in the buffer that ``read_new`` has not returned yet, oldest first."""
        records = [record for record in self.read() if record.step > self.last_read_step]
        if records:
            self.last_read_step = records[-1].step
        return records

    def read_gradients(self) -> dict[str, np.ndarray]:
        """Each layer's last sampled gradient, flattened, entries of absent gradients dropped."""
        copies: dict[str, np.ndarray] = {}
        if not self.gradient_copies:
            return copies
        for layer, copy in zip(self.layers, self.gradient_copies, strict=True):
            values = copy.numpy()
            present = values[~np.isnan(values)]
            if present.size:
                copies[layer.name] = present
        return copies

    def _order_recorder(self, seen: list[int]) -> Any:
        row_of_layer = {id(layer.layer): row for row, layer in enumerate(self.layers)}

        def record(layer: Any, call: Any, args: tuple, kwargs: dict) -> Any:
            row = row_of_layer[id(layer)]
            if row not in seen:
                seen.append(row)
            return call(*args, **kwargs)

        return record

    def _keep_order(self, seen: list[int]) -> None:
        if seen:
            self._call_order = list(seen)

    def _recording_apply(self, apply: Any) -> Any:
        def apply_with_statistics(grads: Any, trainable_variables: Any = None) -> Any:
            grads = list(grads)
            variables = (
                list(trainable_variables)
                if trainable_variables is not None
                else list(self.optimizer._trainable_variables)
            )
            with tf.name_scope("netviz"):  # the added ops are easy to tell apart in a trace
                self._record_step(grads, variables)
            return apply(grads, trainable_variables)

        return apply_with_statistics

    def _counting_apply(self, apply: Any) -> Any:
        def apply_counting_overflow(grads: Any, trainable_variables: Any = None) -> Any:
            grads = list(grads)
            finite = self.outer_optimizer.check_finite(grads)
            self.skipped.assign_add(tf.cast(tf.logical_not(finite), tf.float32))
            return apply(grads, trainable_variables)

        return apply_counting_overflow

    def _record_step(self, grads: list[Any], variables: list[Any]) -> None:
        accumulation = getattr(self.optimizer, "gradient_accumulation_steps", None)
        if not accumulation:
            self._record_applied(grads, variables)
            return
        optimizer = self.optimizer
        if not optimizer.built:  # what ``apply`` would do first, done before we read its accumulators
            optimizer.build(variables)
            optimizer.built = True
        accumulated = [optimizer._accumulated_gradients[optimizer._get_variable_index(v)] for v in variables]
        applies = tf.equal((optimizer._iterations + 1) % accumulation, 0)

        def record() -> tf.Tensor:
            applied = [
                None if g is None else (_dense_float32(g) + _dense_float32(a)) / accumulation
                for g, a in zip(grads, accumulated, strict=True)
            ]
            self._record_applied(applied, variables)
            return tf.constant(True)

        tf.cond(applies, record, lambda: tf.constant(False))

    def _record_applied(self, grads: list[Any], variables: list[Any]) -> None:
        """Statistics of ``grads``, the gradients one optimizer step applies, into the step's slot."""
        step = tf.cast(tf.convert_to_tensor(self.optimizer.iterations), tf.int64)
        present = [(i, _dense_float32(g)) for i, g in enumerate(grads) if g is not None]
        reduced = _aggregated([g for _, g in present])
        gradient_of = {id(variables[i]): g for (i, _), g in zip(present, reduced, strict=True)}
        is_logged = tf.equal(step % self.log_every_n_steps, 0)
        is_sampled = tf.equal(step % self.sample_every_n_steps, 0)

        statistics = LayerGradientStatistics(self.layers, gradient_of)
        if self.log_every_n_steps == 1:
            rows, norm = statistics.compute()  # every step is logged: no branch to take
        else:
            rows, norm = tf.cond(is_logged, statistics.compute, self._not_logged)
        meta = tf.stack(
            [
                tf.cast(step, tf.float32),
                norm,
                tf.cast(is_logged, tf.float32),
                tf.convert_to_tensor(self.skipped),
                tf.cast(is_sampled, tf.float32),
            ]
            + [tf.constant(0.0)] * (_STATS - len(META_COLUMNS))
        )
        slab = tf.concat([rows, meta[None]], axis=0)
        slot = tf.reshape(step % self.slots, [1])
        self.buffer.scatter_update(tf.IndexedSlices(slab[None], slot))
        if self.gradient_copies:
            self._copy_gradients(gradient_of, is_sampled)

    def _not_logged(self) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.fill([len(self.layers), _STATS], math.nan), tf.constant(math.nan)

    def _copy_gradients(self, gradient_of: dict[int, tf.Tensor], is_sampled: tf.Tensor) -> None:
        for layer, copy in zip(self.layers, self.gradient_copies, strict=True):
            flat = _flat_gradient(layer, gradient_of)
            copy.assign(tf.cond(is_sampled, lambda f=flat: f, lambda c=copy: tf.convert_to_tensor(c)))


def _replica_variable(initial: np.ndarray, name: str) -> tf.Variable:
    # Every replica computes the same (aggregated) value; the first one's write is kept.
    return tf.Variable(
        initial,
        trainable=False,
        name=name,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def _tensor(variable: Any) -> tf.Tensor:
    value = getattr(variable, "value", variable)
    return tf.convert_to_tensor(value)


def _dense_float32(value: Any) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(value), tf.float32)


def _aggregated(grads: list[tf.Tensor]) -> list[tf.Tensor]:
    context = tf.distribute.get_replica_context()
    if grads and context is not None and context.num_replicas_in_sync > 1:
        return list(context.all_reduce(tf.distribute.ReduceOp.SUM, grads))
    return grads


def _flat_gradient(layer: WeightLayer, gradient_of: dict[int, tf.Tensor]) -> tf.Tensor:
    parts = []
    for variable in layer.variables:
        grad = gradient_of.get(id(variable))
        if grad is None:
            grad = tf.fill(tf.shape(_tensor(variable)), math.nan)
        parts.append(tf.reshape(grad, [-1]))
    return tf.concat(parts, axis=0)
