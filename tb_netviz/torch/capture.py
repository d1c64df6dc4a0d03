"""The capture shared by ``NetViz`` and ``NetVizCallback``: what to log, and logging it safely.

Construction is where the user's configuration is checked, and errors there
are raised: a model without parameters, a ``sample_batch`` the model cannot take
(the first sample pass runs here, and also fixes the forward order of the
rows), a layer pattern that matches nothing. After that, every logging step
runs guarded: an exception warns once per kind of step with a
``NetVizWriteWarning`` naming what was dropped, and training goes on.

With ``gradcam=True`` each sample step also runs the Grad-CAM pass
(``tb_netviz.torch.gradcam``), guarded on its own, after the sample pass.

Histograms (``histograms=True``) go to TensorBoard's Histograms tab under
``netviz/histograms/{activations,weights,gradients}/<layer>``. Under sharded
training the weight and gradient histograms are those of the whole tensors,
counted from every rank's piece over the global range (a second collective at
each logged step, ``ShardedGradientStatistics.histograms``); no kernels or
weight matrices (``netviz/weights/``) are written there (they would need every
rank's entries on rank zero).

Example:
    >>> import tempfile, torch
    >>> from torch import nn
    >>> from tb_netviz.summary import CaptureOptions, NetVizWriter
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> capture = Capture(model, CaptureOptions(log_every_n_steps=1), torch.randn(2, 4))
    >>> capture.writer = NetVizWriter(tempfile.mkdtemp())
    >>> model(torch.randn(5, 4)).sum().backward()
    >>> capture.log_gradients(0, defer=False)
    >>> capture.finish(last_step=0)
    >>> capture.writer.close()
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from tb_netviz.summary import (
    CLIPPED_GRAD_NORM_TAG,
    GLOBAL_GRAD_NORM_TAG,
    AlertDetector,
    CaptureOptions,
    NetVizWriter,
    NetVizWriteWarning,
)
from tb_netviz.summary.gradcam import check_gradcam_inputs
from tb_netviz.summary.metadata import model_layer_content
from tb_netviz.summary.options import AttentionLabels
from tb_netviz.summary.probe_labels import check_sample_labels
from tb_netviz.summary.user_warnings import warn_from_caller
from tb_netviz.torch.gradcam import GradCam, images_for_overlay
from tb_netviz.torch.gradient_stats import GradientStatistics, GradientTable, MeasuredGradients
from tb_netviz.torch.layers import Layer, discover_layers, module_names, order_layers, root_name
from tb_netviz.torch.learned import LearnedViews, check_embedding_tensor
from tb_netviz.torch.probe import ProbeRequest, ProbeResult, batch_size, first_sample, run_probe

HISTOGRAM_TAG_PREFIX = "netviz/histograms/"


def histogram_tag(kind: str, layer: str) -> str:
    """The Histograms-tab tag of one layer's ``activations``, ``weights`` or ``gradients``.

    >>> histogram_tag("weights", "features.0")
    'netviz/histograms/weights/features.0'
    """
    return f"{HISTOGRAM_TAG_PREFIX}{kind}/{layer}"


class Capture:
    """Gradient statistics and sample passes of one model, written to ``self.writer``.

    Args:
        model: the model; it is left with the hooks, modes and RNG state it had.
        options: what to capture.
        sample_batch: the probe batch, or None for gradient flow only.
        forward_context: entered around each sample pass (e.g. Lightning's precision context).
        sample_labels: the probe batch's true classes (``check_sample_labels``), or None.
        statistics: builds the gradient statistics from ``(layers, selected)``; default
            ``GradientStatistics``. Sharded training passes a ``ShardedGradientStatistics``
            factory: every rank then measures and takes part in the collective, and only
            a rank with a ``writer`` writes (the others keep ``writer`` None).
        rows: False writes the run-level norms only, no ``netviz/gradient_flow`` rows (for
            parameters that are not per layer, such as FSDP1's flat buffers).

    Raises:
        ValueError: a model without parameters, a pattern that matches no layer, or
            ``sample_labels`` that are not one class per probe sample.
        SampleBatchError: the model cannot take ``sample_batch``.
    """

    def __init__(
        self,
        model: nn.Module,
        options: CaptureOptions,
        sample_batch: Any = None,
        forward_context: Callable[[], AbstractContextManager] = contextlib.nullcontext,
        *,
        sample_labels: Any = None,
        statistics: Callable[[list[Layer], list[int]], GradientStatistics] | None = None,
        rows: bool = True,
    ) -> None:
        self.model = model
        self.options = options
        self.sample_batch = sample_batch
        self.sample_labels = check_sample_labels(
            sample_labels, None if sample_batch is None else batch_size(sample_batch)
        )
        self.writer: NetVizWriter | None = None
        self.detector = AlertDetector(options.alert_thresholds)
        # The tables' metadata, the same at every step: built once, not on the training thread's hot path.
        self._gradient_flow_content = {
            **options.gradient_flow_content(),
            **model_layer_content(root_name(model)),
        }
        self._activations_content = options.activations_content()
        self._forward_context = forward_context
        self._sharded = statistics is not None
        self._rows = rows
        self._new_statistics = statistics or GradientStatistics
        if statistics is not None and options.histograms and rows:
            self._new_statistics = functools.partial(statistics, histograms=True)
        layers = discover_layers(model)
        names = module_names(model)
        attention = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
        self._gradcam: GradCam | None = None
        check_gradcam_inputs(options, sample_batch is not None, self.sample_labels)
        if options.gradcam and self._sharded:
            raise ValueError(
                "gradcam=True is not supported with sharded parameters (FSDP2 / DTensor) yet: its "
                "backward pass would run the sharding's gradient hooks; leave gradcam off here"
            )
        if sample_batch is not None:
            first = run_probe(model, sample_batch, ProbeRequest(), forward_context)
            if options.gradcam:
                self._gradcam = GradCam(
                    model, options, sample_batch, self.sample_labels, first.entered, forward_context
                )
                self._gradcam.run()  # a layer without spatial axes or a class out of range fails here
            layers = order_layers(layers, model, first.entered)
            entry = {module: index for index, module in enumerate(first.entered)}
            attention = sorted(set(attention) | set(first.sdpa_callers), key=lambda m: entry.get(m, 1 << 30))
        layer_names = [layer.name for layer in layers]
        extra = [names[m] for m in attention if names[m] not in layer_names]
        chosen = set(options.select_layers(layer_names + extra))
        self.layers = [layer for layer in layers if layer.name in chosen]
        self._all_layers = layers
        self._selected = [i for i, layer in enumerate(layers) if layer.name in chosen]
        self._stats: GradientStatistics | None = None
        if not any(is_lazy(p) for layer in layers for p in layer.parameters):
            self._stats = self._new_statistics(layers, self._selected)
        self._warned: set[str] = set()
        self.learned = LearnedViews(
            self.layers,
            model,
            options,
            None if sample_batch is None else batch_size(sample_batch),
            lambda message: self._warn_once(message, message),
            sharded=self._sharded,
        )
        self._check_embedding_layer(forward_context)
        self.request = ProbeRequest(
            activations=self.layers,
            feature_maps=[layer for layer in self.layers if layer.is_conv],
            attention={m: names[m] for m in attention if names[m] in chosen},
            max_channels=options.max_channels,
            max_heads=options.max_heads,
            keep_outputs=options.histograms,
            model_modules=list(model.modules()),
            embedding=self.learned.embedding_module,
            embedding_of=self.learned.embedding_of,
            keep_prediction=self.learned.embedding_module is not None,
        )
        self._gradcam_images: np.ndarray | None = None
        self._pending: tuple[int, MeasuredGradients] | None = None
        self._last_sampled: int | None = None
        self._labels = AttentionLabels(options, lambda: first_sample(self.sample_batch), self._warn_once)

    @property
    def stats(self) -> GradientStatistics:
        """The gradient statistics of the layers, built at first use if the model had lazy
        parameters (``nn.LazyLinear``...) that the sample batch did not initialise.

        Raises:
            ValueError: a lazy parameter is still uninitialised (no forward pass ran yet).
        """
        if self._stats is None:
            lazy = [layer.name for layer in self._all_layers if any(is_lazy(p) for p in layer.parameters)]
            if lazy:
                raise ValueError(
                    f"the lazy layers {lazy} are not initialised yet, so their gradients cannot be "
                    "measured: run a forward pass before logging gradients (or pass sample_batch, "
                    "which initialises them when NetViz is created)"
                )
            self._stats = self._new_statistics(self._all_layers, self._selected)
        return self._stats

    @property
    def layer_names(self) -> list[str]:
        """The gradient-flow rows, in forward order."""
        return [layer.name for layer in self.layers]

    def log_gradients(self, step: int, defer: bool) -> None:
        """Measure the current gradients; write now, or when ``complete_gradients`` runs if ``defer``."""
        self.complete_gradients(clipped=False)
        measured = None
        with self._guarded("gradient statistics", step):
            measured = self.stats.measure()
            if self.options.histograms and not self._sharded:
                self._write_parameter_histograms(step)
            if defer:
                self._pending = (step, measured)
                return
            self._write_gradients(step, self.stats.finish(measured))
        self._write_sharded_histograms(step, measured)

    def complete_gradients(self, clipped: bool) -> None:
        """Write deferred statistics; with ``clipped``, add the global norm of the gradients now held."""
        if self._pending is None:
            return
        step, measured = self._pending
        self._pending = None
        with self._guarded("gradient statistics", step):
            if clipped:
                measured.extra = self.stats.global_norm()
            self._write_gradients(step, self.stats.finish(measured))
        self._write_sharded_histograms(step, measured)

    def log_sample(self, step: int, force: bool = False) -> None:
        """Run the sample pass if ``step`` is a sample step, the first one seen, or ``force``;
        the weights are written at those steps even without a probe batch."""
        if (self.sample_batch is None and not self.learned.weight_layers) or step == self._last_sampled:
            return
        if not (force or self._last_sampled is None or self.options.is_sample_step(step)):
            return
        self._last_sampled = step
        if self.writer is not None:
            with self._guarded("weights (kernels and matrices)", step):
                self.learned.write_weights(self.writer, step)
        if self.sample_batch is None:
            return
        result = None
        with self._guarded("sample pass (activations, feature maps, attention)", step):
            result = self._write_sample(step)
        if self.learned.embedding_module is not None and result is not None:
            with self._guarded("embedding", step):
                self.learned.write_embedding(
                    self.writer, step, result.embedding, result.prediction, self.sample_labels
                )
        if self._gradcam is not None:
            with self._guarded("Grad-CAM maps", step):
                self._write_gradcam(step)

    def finish(self, last_step: int | None) -> None:
        """End of training: write what is deferred and sample the last step if it was not."""
        self.complete_gradients(clipped=False)
        if last_step is not None:
            self.log_sample(last_step, force=True)

    def _write_gradients(self, step: int, table: GradientTable) -> None:
        writer = self.writer
        if writer is None:
            return
        names = self.layer_names if self._rows else []
        if names:
            writer.gradient_flow(step, names, table.values, **self._gradient_flow_content)
        if table.global_norm is not None:
            writer.scalar(step, GLOBAL_GRAD_NORM_TAG, table.global_norm)
        if table.clipped_norm is not None:
            writer.scalar(step, CLIPPED_GRAD_NORM_TAG, table.clipped_norm)
        if names and self.detector.check_gradients(step, names, table.values):
            writer.alerts(step, self.detector.history, self.detector.omitted)

    def _write_sharded_histograms(self, step: int, measured: Any) -> None:
        """Sharded, with histograms: every rank counts its entries (the step's second collective)."""
        if measured is None or not getattr(self._stats, "with_histograms", False):
            return
        with self._guarded("weight and gradient histograms", step):
            for kind, name, buckets in self.stats.histograms(measured):
                if self.writer is not None:
                    self.writer.histogram_buckets(step, histogram_tag(kind, name), buckets)

    def _check_embedding_layer(self, forward_context: Callable[[], AbstractContextManager]) -> None:
        """An explicit ``embedding_layer`` whose output is not a tensor is an error here, not later."""
        if self.options.embedding_layer is None or self.learned.embedding_module is None:
            return
        request = ProbeRequest(embedding=self.learned.embedding_module, embedding_of="output")
        found = run_probe(self.model, self.sample_batch, request, forward_context).embedding
        check_embedding_tensor(found, self.learned.embedding_name)

    def _write_sample(self, step: int) -> ProbeResult | None:
        result = run_probe(self.model, self.sample_batch, self.request, self._forward_context)
        writer = self.writer
        if writer is None:
            return
        names = [name for name in self.layer_names if name in result.activations]
        if names:
            rows = torch.stack([result.activations[name].to(torch.float32) for name in names])
            rows = rows.cpu().numpy()
            writer.activations(step, names, rows, **self._activations_content)
            if self.detector.check_activations(step, names, rows):
                writer.alerts(step, self.detector.history, self.detector.omitted)
        for name, maps in result.feature_maps.items():
            writer.feature_maps(step, name, maps.float().cpu().numpy(), self.options.max_channels)
        for name, weights in result.attention.items():
            weights = weights.float().cpu().numpy()
            writer.attention(step, name, weights, self._labels.for_matrix(name, *weights.shape[1:]))
        for name, output in result.outputs.items():
            writer.histogram(step, histogram_tag("activations", name), output.float().cpu().numpy())
        return result

    def _write_gradcam(self, step: int) -> None:
        if self.writer is None:  # a rank that does not write
            return
        result = self._gradcam.run()
        if self.writer is None:
            return
        if self._gradcam_images is None:
            self._gradcam_images = images_for_overlay(self._gradcam.image)
        maps = {name: values.cpu().numpy() for name, values in result.maps.items()}
        self.writer.gradcam(
            step,
            maps,
            result.classes.cpu().numpy(),
            result.probabilities.cpu().numpy(),
            self._gradcam_images,
            target=self.options.gradcam_target,
            labels=self.sample_labels,
        )

    def _write_parameter_histograms(self, step: int) -> None:
        for layer in self.layers:
            weights = torch.cat([p.detach().reshape(-1).float() for p in layer.parameters])
            self.writer.histogram(step, histogram_tag("weights", layer.name), weights.cpu().numpy())
            grads = [p.grad.detach().reshape(-1).float() for p in layer.parameters if _dense_grad(p)]
            if grads:
                self.writer.histogram(
                    step, histogram_tag("gradients", layer.name), torch.cat(grads).cpu().numpy()
                )

    def _guarded(self, what: str, step: int) -> _Guard:
        return _Guard(self, what, step)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn_from_caller(message, NetVizWriteWarning)


class _Guard:
    """Turns an exception in a logging step into one warning per kind; training goes on.

    A class rather than ``contextlib.contextmanager`` so that the warning points at
    the user's line (``warn_from_caller`` skips tb_netviz frames, not contextlib's).
    """

    def __init__(self, capture: Capture, what: str, step: int) -> None:
        self.capture, self.what, self.step = capture, what, step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, _traceback: object) -> bool:
        if error is None or not isinstance(error, Exception):
            return False
        self.capture._warn_once(
            self.what,
            f"tb-netviz: the {self.what} at step {self.step} could not be logged "
            f"({type(error).__name__}: {error}); it is dropped and training goes on",
        )
        return True


def _dense_grad(parameter: torch.Tensor) -> bool:
    return parameter.grad is not None and not parameter.grad.is_sparse
