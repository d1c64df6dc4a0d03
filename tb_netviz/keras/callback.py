"""``NetVizCallback``: the Keras 3 callback that feeds TensorBoard's NetViz tab."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import os
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from typing_extensions import Unpack

from tb_netviz.keras.gradcam import GradCam
from tb_netviz.keras.gradient_capture import GradientCapture, StepRecord
from tb_netviz.keras.layers import WeightLayer, attention_layers, layer_name, weight_layers
from tb_netviz.keras.learned import LearnedViews, check_embedding_output
from tb_netviz.keras.probe import activation_statistics, channel_axis, feature_maps, first_sample, run_probe
from tb_netviz.summary import AlertDetector, CaptureOptions, NetVizWriter, NetVizWriteWarning
from tb_netviz.summary.columns import ACTIVATION_STATS
from tb_netviz.summary.gradcam import check_gradcam_inputs
from tb_netviz.summary.metadata import GLOBAL_GRAD_NORM_TAG, model_layer_content
from tb_netviz.summary.options import AttentionLabels, CaptureOptionKwargs, documents_capture_options
from tb_netviz.summary.probe_labels import check_sample_labels
from tb_netviz.summary.remote_store import check_log_dir
from tb_netviz.summary.user_warnings import warn_from_caller

SKIPPED_OVERFLOW_STEPS_TAG = "netviz/skipped_overflow_steps"
HISTOGRAM_TAG_PREFIX = "netviz/histograms/"
# Reading the statistics right after a training step costs the host a few hundred
# microseconds whatever it reads (the step has evicted the interpreter's working
# set from the caches), so the in-graph buffer keeps this many steps and is read
# once per that many steps, at probe steps and at the end of each epoch.
_STEPS_PER_READ = 32


@documents_capture_options
class NetVizCallback(keras.callbacks.Callback):
    """Logs per-layer gradient flow, activations, feature maps and attention to TensorBoard.

    Gradient statistics come from the real training step of ``model.fit`` (see
    ``tb_netviz.keras.gradient_capture`` for exactly which gradients are measured,
    including under a ``LossScaleOptimizer`` and ``tf.distribute.MirroredStrategy``:
    the aggregated, unscaled gradient the optimizer applies). They are computed
    in-graph into a buffer of the last 32 steps, which the host reads in one
    transfer every 32 steps, at probe steps and at the end of each epoch (so
    alerts may come up to 32 steps after their step). Where the host cannot
    tell step numbers from batch counts (a ``LossScaleOptimizer`` skipping
    overflow steps, gradient accumulation, data of unknown length) and probe or
    histogram steps must be found, it reads after every execution. Every step of a
    ``steps_per_execution > 1`` execution is kept, with or without ``jit_compile``.
    The probe views (activation statistics, feature maps of Conv1D/2D/3D layers,
    ``MultiHeadAttention`` scores ``[H, Q, K]`` of the first sample) come from one
    inference pass on ``sample_batch`` after the sampled step's update.

    Rows are the layers that own trainable weights directly, named by their
    Keras layer path relative to the model (``head/dense``), in the order they
    are first called in the training step (Keras's tracking order for layers the
    step never calls). Probe steps: every ``sample_every_n_steps``, the first
    logged step of each ``fit`` and its end; with ``steps_per_execution > 1`` a probe
    runs once per execution that holds such a step, labelled with its last step.
    Steps are ``optimizer.iterations``
    before the update (0-based), as on the PyTorch side. At the end of ``fit``
    (or when the train step raises) the model's train function and the
    optimizer are exactly as before, so ``model.save`` and a later ``fit``
    without this callback are unaffected.

    A model that is not built when ``fit`` starts (a subclassed model, no
    ``sample_batch``) is built symbolically from the dataset's element spec
    just before its first step, as Keras does under a distribution strategy;
    the rows are chosen then and step 0 is logged. If that build fails, one
    ``NetVizWriteWarning`` says so and that ``fit`` runs without NetViz logging.

    Limit: when ANOTHER callback raises, Keras ends ``fit`` without
    ``on_train_end``. Then the optimizer is already as before (it is only
    changed inside a train step), every finished epoch is on disk when this
    callback's ``on_epoch_end`` ran before the failure, and the model keeps
    this callback's train function until its next train step (the next
    ``fit``, with or without this callback), which gives the model its own
    function back, logs the gradient flow of the aborted ``fit``'s steps not
    logged yet, runs the step, and closes the event file. The file is also
    closed, after the same logging, when the session is garbage-collected or
    at interpreter exit. Nothing is logged for steps run after the aborted ``fit``.

    Args:
        log_dir: the run directory. Default: the training log directory of a
            ``keras.callbacks.TensorBoard`` in the same ``fit`` call
            (``<its log_dir>/train``), so NetViz and Scalars describe one run. A URL
            (``s3://bucket/run``, any fsspec protocol) writes to object storage.
        sample_batch: inputs for the probe pass (what ``model(x)`` accepts),
            a few samples; None logs gradients only.
        sample_labels: the true class of each ``sample_batch`` sample (class indices
            ``[N]`` or one-hot ``[N, classes]``, a list, array or tensor), shown beside
            the sample in the views of the probe batch. Default None.
        {capture_options}

    Raises:
        TypeError: an unknown option, or an option or ``log_dir`` of the wrong type.
        ValueError: an invalid option value, ``sample_labels`` that are not one class per
            probe sample (see ``check_sample_labels``); at the start of ``fit``: no ``log_dir``
            and no TensorBoard callback, a layer pattern matching nothing, a
            ``sample_batch`` the model cannot take, or a backend other than TensorFlow
            (for a model built by its first step, layer patterns are checked at that step).
            Here: a malformed ``log_dir`` URL or an unknown protocol.
        ImportError: the package of a ``log_dir`` URL's protocol (``s3fs``...) is not installed.
        LogDirError: at the start of ``fit``: ``log_dir`` cannot be written.

    What is written (besides the netviz tags of ``tb_netviz.summary``): with a
    ``LossScaleOptimizer`` the float32 scalar ``netviz/skipped_overflow_steps``
    (cumulative count of skipped steps) at every logged step; with
    ``histograms=True``, ``netviz/histograms/{weights,gradients,activations}/<layer>``
    at probe steps (gradients of the last sampled step).

    Logging problems during training never stop ``fit``: each kind warns once
    (``NetVizWriteWarning``, a ``RuntimeWarning``, naming what was dropped) and training goes on.

    Example::

        callback = NetVizCallback(log_dir="runs/exp1", sample_batch=x[:8], log_every_n_steps=1)
        model.fit(x, y, epochs=3, callbacks=[callback])

    >>> import tempfile, keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")])
    >>> model.compile("sgd", "mse")
    >>> x, y = np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32)
    >>> callback = NetVizCallback(tempfile.mkdtemp(), sample_batch=x[:2], log_every_n_steps=1)
    >>> _ = model.fit(x, y, batch_size=4, verbose=0, callbacks=[callback])
    >>> callback.logged_steps
    [0, 1]
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        sample_batch: Any = None,
        *,
        sample_labels: Any = None,
        **capture_options: Unpack[CaptureOptionKwargs],
    ):
        super().__init__()
        self.options = CaptureOptions.from_kwargs(type(self).__name__, **capture_options)
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a path (str or os.PathLike), got {type(log_dir).__name__}")
        if log_dir is not None:
            check_log_dir(log_dir)  # a malformed URL or a missing protocol package fails here, not in fit
        self.log_dir = os.fspath(log_dir) if log_dir is not None else None
        self.sample_batch = _checked_sample_batch(sample_batch)
        self.sample_labels = check_sample_labels(sample_labels, _batch_size(self.sample_batch))
        check_gradcam_inputs(self.options, self.sample_batch is not None, self.sample_labels)
        self.detector = AlertDetector(self.options.alert_thresholds)
        self.logged_steps: list[int] = []
        self._warned: set[str] = set()
        self._labels = AttentionLabels(self.options, lambda: first_sample(self.sample_batch), self._warn_once)
        self._session: _FitSession | None = None

    # Keras hooks: short; the work is in the helpers below.

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._end_session()
        self._session = self._start_session()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._session is not None:
            self._session.batch_begin = batch
            self._session.batch_started = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        session = self._session
        if (
            session is not None
            and session.capture is not None
            and session.must_read(batch, self.options, self._needs_sample_steps)
        ):
            self._guarded("gradient statistics", self._log_new_steps, session)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # Each finished epoch is on disk even if a later callback aborts fit.
        session = self._session
        if session is not None:
            if session.capture is not None:
                self._guarded("gradient statistics", self._log_new_steps, session)
            self._guarded("flushes", session.writer.flush)

    def on_train_end(self, logs: dict | None = None) -> None:
        session = self._session
        if session is None:
            return
        try:
            if session.capture is not None:
                self._guarded("gradient statistics", self._log_new_steps, session)
            if (self.sample_batch is not None or _writes_weights(session)) and session.capture is not None:
                final_step = int(session.capture.optimizer.iterations.numpy()) - 1
                if final_step >= 0 and final_step != session.last_probe_step:
                    self._guarded("probe views", self._log_probe, session, final_step)
        finally:
            self._end_session()

    # Session set-up and tear-down.

    def _start_session(self) -> _FitSession:
        model = self.model
        if not hasattr(model, "_make_function") or keras.backend.backend() != "tensorflow":
            raise ValueError(
                "NetVizCallback needs Keras 3 on the TensorFlow backend (KERAS_BACKEND=tensorflow)"
            )
        log_dir = self.log_dir or _tensorboard_train_dir(self)
        if log_dir is None:
            raise ValueError(
                "NetVizCallback has no log_dir: pass NetVizCallback(log_dir=...), or add a "
                "keras.callbacks.TensorBoard(log_dir) to the same fit() call to log into its run"
            )
        gradcam = None
        if self.sample_batch is not None:
            _check_probe_runs(model, self.sample_batch)
            if self.options.gradcam:
                gradcam = GradCam(model, self.options, self.sample_batch, self.sample_labels)
                gradcam.run()  # a layer without spatial axes or a class out of range fails here
        loss_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        applying = model.optimizer.inner_optimizer if loss_scaled else model.optimizer
        deferred = not model.built and not weight_layers(model)
        if not deferred:
            self._selected_layers(model)  # bad layer patterns fail before anything changes
        writer = NetVizWriter(log_dir)
        session = _FitSession(
            model=model,
            capture=None,
            writer=writer,
            attention=[],
            original_train_function=model.train_function,
            next_step=int(applying.iterations.numpy()),
            # One optimizer step per batch: not with skipped overflow steps or gradient accumulation.
            exact_steps=not loss_scaled
            and not getattr(applying, "gradient_accumulation_steps", None)
            and self.params.get("steps") is not None,
            gradcam=gradcam,
        )
        # A fit that another callback aborts never calls on_train_end: close the
        # file at the latest when the session is collected or Python exits.
        session.finalizer = weakref.finalize(session, writer.close)
        try:
            if deferred:
                # A subclassed model is built by its first traced step; the rows
                # are only known then (see _train_function_building_first).
                model.train_function = self._train_function_building_first(session)
                session.our_train_function = model.train_function
            else:
                self._install_capture(session)
        except BaseException:
            model.train_function = session.original_train_function
            session.ended = True
            writer.close()
            raise
        return session

    def _install_capture(self, session: _FitSession) -> None:
        """Choose the rows, create the in-graph capture and wrap a fresh train function."""
        model = session.model
        layers, session.attention = self._selected_layers(model)
        session.learned = self._learned_views(model, layers)  # bad options fail here, before training
        if self.sample_batch is not None:
            check_embedding_output(model, self.sample_batch, session.learned)
        session.capture = GradientCapture(
            model,
            layers,
            log_every_n_steps=self.options.log_every_n_steps,
            slots=_buffer_slots(int(model.steps_per_execution)),
            sample_every_n_steps=self.options.sample_every_n_steps,
            keep_gradients=self.options.histograms,
        )
        # The buffer is read every few steps: a session no fit ends logs its unread steps when collected.
        session.finalizer.detach()
        session.finalizer = weakref.finalize(
            session,
            _log_unread_steps_and_close,
            session.capture,
            self._gradient_writer(session),
            session.writer,
        )
        model.make_train_function(force=True)
        model.train_function = self._train_function_with_capture(model.train_function, session)
        session.our_train_function = model.train_function

    def _train_function_building_first(self, session: _FitSession) -> Any:
        def train_function_building_model(iterator: Any) -> Any:
            if not session.batch_started:
                self._end_session(session)
                return session.original_train_function(iterator)
            model = session.model
            try:
                with model.distribute_strategy.scope():
                    model._symbolic_build(data_batch=iterator.element_spec)
            except Exception as error:  # building is only for logging: training goes on
                self._warn_once(
                    "unbuilt model",
                    f"tb-netviz: model {model.name!r} could not be built before its first step "
                    f"({type(error).__name__}: {error}); gradient flow is not logged in this fit. "
                    "Build the model before fit, or pass NetVizCallback(sample_batch=x[:8]).",
                )
                self._end_session(session)
                return session.original_train_function(iterator)
            try:
                self._install_capture(session)
            except BaseException:
                self._end_session(session)
                raise
            return model.train_function(iterator)

        return train_function_building_model

    def _selected_layers(self, model: keras.Model) -> tuple[list[WeightLayer], list[tuple[str, Any]]]:
        layers = weight_layers(model)
        if not layers:
            raise ValueError(
                f"model {model.name!r} has no layer with trainable weights; is it built? "
                "(pass sample_batch to let NetVizCallback build it)"
            )
        attention = attention_layers(model)
        chosen = set(self.options.select_layers([layer.name for layer in layers] + [n for n, _ in attention]))
        return [layer for layer in layers if layer.name in chosen], [a for a in attention if a[0] in chosen]

    def _train_function_with_capture(self, train_function: Any, session: _FitSession) -> Any:
        def train_function_with_capture(iterator: Any) -> Any:
            if not session.batch_started:
                # Called outside a fit that runs this callback (another callback
                # raised and ended that fit early): give the model its own back.
                self._end_session(session)
                return session.original_train_function(iterator)
            session.batch_started = False
            try:
                with session.capture.installed():
                    return train_function(iterator)
            except (StopIteration, tf.errors.OutOfRangeError):
                raise  # the end of the data, not a failure
            except BaseException:
                self._end_session(session)
                raise

        return train_function_with_capture

    def _end_session(self, session: _FitSession | None = None) -> None:
        session = session or self._session
        if self._session is session:
            self._session = None
        if session is None or session.ended:
            return
        session.ended = True
        if session.model.train_function is session.our_train_function:
            session.model.train_function = session.original_train_function
        if session.capture is not None:  # steps not read yet (a fit another callback aborted)
            self._guarded("gradient statistics", self._log_new_steps, session, False)
        session.writer.close()
        if session.finalizer is not None:
            session.finalizer.detach()

    @property
    def _needs_sample_steps(self) -> bool:
        """Whether the host acts at sample steps (a probe pass or gradient histograms)."""
        return self.sample_batch is not None or self.options.histograms

    # Logging.

    def _log_new_steps(self, session: _FitSession, probes: bool = True) -> None:
        records = session.capture.read_new()
        if not records:
            return
        session.next_step = records[-1].step + 1
        write_gradients = self._gradient_writer(session)
        for record in records:
            if record.logged:
                write_gradients(record)
        first_logged = session.last_probe_step is None and any(r.logged for r in records)
        if (
            probes
            and (self.sample_batch is not None or _writes_weights(session))
            and (first_logged or any(self.options.is_sample_step(r.step) for r in records))
        ):
            self._guarded("probe views", self._log_probe, session, records[-1].step)
        if self.options.histograms and any(r.sampled for r in records):
            step = max(r.step for r in records if r.sampled)
            for name, values in session.capture.read_gradients().items():
                session.writer.histogram(step, f"{HISTOGRAM_TAG_PREFIX}gradients/{name}", values)

    def _gradient_writer(self, session: _FitSession) -> Any:
        """Writes one step's gradient flow; holds no reference to the session (see ``_install_capture``)."""
        return functools.partial(
            _write_gradients,
            session.writer,
            self.detector,
            # built once: the metadata is the same at every step
            {
                **self.options.gradient_flow_content(),
                **model_layer_content(layer_name(self.model, self.model)),
            },
            self.logged_steps,
            session.capture.loss_scaled,
        )

    def _log_probe(self, session: _FitSession, step: int) -> None:
        session.last_probe_step = step
        capture, writer = session.capture, session.writer
        layers = [capture.layers[row] for row in capture.row_order]
        if not session.learned_in_row_order:  # the forward order is known once the step was traced
            session.learned, session.learned_in_row_order = self._learned_views(session.model, layers), True
        learned = session.learned
        if self.sample_batch is None:  # no probe batch: the weights alone (see _writes_weights)
            self._guarded("weights (kernels and matrices)", learned.write_weights, writer, step)
            return
        result = run_probe(
            session.model, self.sample_batch, layers, session.attention, learned.probe_embedding
        )
        rows = np.full((len(layers), len(ACTIVATION_STATS)), np.nan)
        for index, layer in enumerate(layers):
            output = result.outputs.get(layer.name)
            if output is None:
                continue
            rows[index] = activation_statistics(output, channel_axis(layer.layer))
            maps = feature_maps(layer.layer, output)
            if maps is not None:
                writer.feature_maps(step, layer.name, maps, max_channels=self.options.max_channels)
            if self.options.histograms:
                writer.histogram(step, f"{HISTOGRAM_TAG_PREFIX}activations/{layer.name}", output)
                weights = np.concatenate([np.ravel(v.numpy()) for v in layer.variables])
                writer.histogram(step, f"{HISTOGRAM_TAG_PREFIX}weights/{layer.name}", weights)
        names = [layer.name for layer in layers]
        writer.activations(step, names, rows, **self.options.activations_content())
        if self.detector.check_activations(step, names, rows):
            writer.alerts(step, self.detector.history, self.detector.omitted)
        self._log_attention(session, step, result.attention)
        self._guarded("weights (kernels and matrices)", learned.write_weights, writer, step)
        if learned.embedding_layer is not None:
            self._guarded(
                "embedding",
                learned.write_embedding,
                writer,
                step,
                result.embedding,
                result.prediction,
                self.sample_labels,
            )
        if session.gradcam is not None:
            self._guarded("Grad-CAM maps", self._log_gradcam, session, step)

    def _learned_views(self, model: keras.Model, layers: list[WeightLayer]) -> LearnedViews:
        batch = None if self.sample_batch is None else _batch_size(self.sample_batch)
        return LearnedViews(
            layers, model, self.options, batch, lambda message: self._warn_once(message, message)
        )

    def _log_gradcam(self, session: _FitSession, step: int) -> None:
        result = session.gradcam.run()
        session.writer.gradcam(
            step,
            result.maps,
            result.classes,
            result.probabilities,
            session.gradcam.images,
            target=self.options.gradcam_target,
            labels=self.sample_labels,
        )

    def _log_attention(self, session: _FitSession, step: int, scores: dict[str, np.ndarray]) -> None:
        for name, batch_scores in scores.items():
            weights = batch_scores[0][: self.options.max_heads]
            session.writer.attention(step, name, weights, self._labels.for_matrix(name, *weights.shape[1:]))

    def _guarded(self, what: str, log: Any, *args: Any) -> None:
        try:
            log(*args)
        except Exception as error:  # a logging failure must never stop training
            self._warn_once(
                what,
                f"tb-netviz: {what} were not logged ({type(error).__name__}: {error}); training continues",
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn_from_caller(message, NetVizWriteWarning)


@dataclasses.dataclass
class _FitSession:
    """The state of one ``fit`` call: the capture, the writer and where the host is in the steps."""

    model: keras.Model
    capture: GradientCapture | None  # None until a model built by its first step is built
    writer: NetVizWriter
    attention: list[tuple[str, Any]]
    original_train_function: Any
    next_step: int
    exact_steps: bool
    our_train_function: Any = None
    finalizer: weakref.finalize | None = None
    batch_begin: int | None = None
    batch_started: bool = False
    ended: bool = False
    last_probe_step: int | None = None
    gradcam: GradCam | None = None
    learned: LearnedViews | None = None
    learned_in_row_order: bool = False

    def must_read(self, batch_end: int, options: CaptureOptions, at_sample_steps: bool) -> bool:
        """Whether the host reads the buffer after the execution that just ended.

        It reads until the first rows of the fit are in; when the host acts at
        sample steps (``at_sample_steps``), after an execution that ran one or
        the fit's first logged step (both get a probe); and before the next
        execution could overwrite the oldest row not read yet.
        Without a loss-scale optimizer and with a known epoch length the host
        knows each step number; otherwise (overflow steps do not count, the last
        execution of an unknown-length epoch is short) its count is an upper
        bound, which is safe for the buffer, and sample steps are unknown, so
        every execution is read when they matter.
        """
        count = max(1 if self.batch_begin is None else batch_end - self.batch_begin + 1, 1)
        first, self.next_step = self.next_step, self.next_step + count
        if self.capture.last_read_step < 0:
            return True
        if at_sample_steps:
            if not self.exact_steps:
                return True
            for step in range(first, self.next_step):
                if options.is_sample_step(step) or (
                    self.last_probe_step is None and options.is_gradient_step(step)
                ):
                    return True
        oldest_unread = self.capture.last_read_step + 1
        return self.next_step + int(self.model.steps_per_execution) > oldest_unread + self.capture.slots


def _writes_weights(session: _FitSession) -> bool:
    """Whether the session writes weights without a probe batch: then at the first read of the
    step buffer after each sample step (within 32 steps), labelled with the step they are from."""
    return session.learned is not None and bool(session.learned.weight_layers)


def _write_gradients(
    writer: NetVizWriter,
    detector: AlertDetector,
    content: dict[str, Any],
    logged_steps: list[int],
    loss_scaled: bool,
    record: StepRecord,
) -> None:
    writer.gradient_flow(record.step, record.layers, record.values, **content)
    if np.isfinite(record.global_grad_norm):
        writer.scalar(record.step, GLOBAL_GRAD_NORM_TAG, record.global_grad_norm)
    if loss_scaled:
        writer.scalar(record.step, SKIPPED_OVERFLOW_STEPS_TAG, float(record.skipped_overflow_steps))
    if detector.check_gradients(record.step, record.layers, record.values):
        writer.alerts(record.step, detector.history, detector.omitted)
    logged_steps.append(record.step)


def _log_unread_steps_and_close(capture: GradientCapture, write_gradients: Any, writer: NetVizWriter) -> None:
    """The finalizer of a session no ``fit`` ended: its last steps still in the buffer, then the file."""
    try:
        for record in capture.read_new():
            if record.logged:
                write_gradients(record)
    except Exception as error:  # at interpreter exit TensorFlow may be gone; the file is closed anyway
        with contextlib.suppress(Exception):
            warn_from_caller(
                f"tb-netviz: the last gradient statistics were not logged ({type(error).__name__}: {error})",
                NetVizWriteWarning,
            )
    writer.close()


def _buffer_slots(steps_per_execution: int) -> int:
    """Ring-buffer length: a whole number of executions holding at least ``_STEPS_PER_READ`` steps."""
    return steps_per_execution * max(1, math.ceil(_STEPS_PER_READ / steps_per_execution))


def _tensorboard_train_dir(callback: keras.callbacks.Callback) -> str | None:
    """``<log_dir>/train`` of a TensorBoard callback in the same fit call, found via its CallbackList."""
    frame = inspect.currentframe()
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList) and any(c is callback for c in owner.callbacks):
            for other in owner.callbacks:
                if isinstance(other, keras.callbacks.TensorBoard):
                    return os.path.join(os.fspath(other.log_dir), "train")
            return None
        frame = frame.f_back
    return None


def _checked_sample_batch(sample_batch: Any) -> Any:
    if sample_batch is None:
        return None
    leaves = keras.tree.flatten(sample_batch)
    if not leaves:
        raise ValueError("sample_batch is empty; pass a few samples, e.g. sample_batch=x[:8]")
    for leaf in leaves:
        shape = getattr(leaf, "shape", None)
        if shape is None or len(shape) == 0:
            raise TypeError(
                f"sample_batch must hold arrays or tensors with a batch axis, got {type(leaf).__name__}"
            )
        if int(shape[0]) == 0:
            raise ValueError("sample_batch has 0 samples; pass a few samples, e.g. sample_batch=x[:8]")
    return sample_batch


def _batch_size(sample_batch: Any) -> int | None:
    """The probe batch's sample count (its first array's batch axis), or None without one."""
    if sample_batch is None:
        return None
    return int(keras.tree.flatten(sample_batch)[0].shape[0])


def _check_probe_runs(model: keras.Model, sample_batch: Any) -> None:
    try:
        model(sample_batch, training=False)
    except Exception as error:
        raise ValueError(f"sample_batch cannot be fed to model {model.name!r}: {error}") from error
