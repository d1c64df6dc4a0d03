"""``NetViz``: netviz capture for a plain PyTorch training loop."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn
from typing_extensions import Unpack

from tb_netviz.summary import CaptureOptions, NetVizWriter, NetVizWriteWarning
from tb_netviz.summary.event_writer import checked_step
from tb_netviz.summary.options import CaptureOptionKwargs, documents_capture_options
from tb_netviz.summary.user_warnings import warn_from_caller
from tb_netviz.torch.capture import Capture
from tb_netviz.torch.distributed import DEEPSPEED_FP16_REASON, sharding_of


@documents_capture_options
class NetViz:
    """Logs gradient flow, activation statistics, feature maps, attention and alerts of ``model``.

    Call ``log_gradients(step)`` after ``loss.backward()`` and before
    ``optimizer.step()`` (after ``scaler.unscale_(optimizer)`` under AMP, before
    clipping) at every step, and ``log_sample(step)`` at every step; each does its
    work only on the steps its option asks for (``step`` counts optimizer steps
    from 0). ``close()`` (or leaving the ``with`` block) writes the last step's
    sample pass, removes every hook and closes the event file.

    Sharded training (FSDP2 ``fully_shard`` or other ``DTensor`` parameters, FSDP1
    with ``use_orig_params=True``): create ``NetViz`` and make every call on every
    rank, with the same steps and the same ``sample_batch``. Each rank measures the
    pieces it holds, one ``all_gather`` per logged step combines them into the
    statistics of the whole gradients, the sample pass runs on every rank (FSDP's
    all-gathers need them all) and only rank zero writes to ``log_dir``. FSDP1 with
    ``use_orig_params=False`` keeps flat buffers that are not per layer: NetViz then
    warns once and logs the global norm only (no rows, no sample pass).

    Args:
        model: the ``nn.Module`` being trained.
        log_dir: the run directory the event file goes to; a URL (``s3://bucket/run``,
            any fsspec protocol, with ``tb-netviz[remote]``) writes to object storage.
        sample_batch: a fixed probe batch for activations, feature maps and attention
            (called as ``model(x)``, ``model(*x)`` for a tuple, ``model(**x)`` for a dict);
            None logs gradient flow only. It is run once here to check it and to
            find the layers' forward order; it also initialises lazy modules
            (``nn.LazyLinear``...). Without it, lazy modules are measured from the
            first ``log_gradients`` after the model's first forward pass.
        sample_labels: the true class of each ``sample_batch`` sample (a list, array or
            tensor of class indices ``[N]``, or one-hot ``[N, classes]``), shown beside
            the sample in the views of the probe batch. Default None.
        optimizer: give it when you clip gradients between ``log_gradients`` and
            ``optimizer.step()``: the global norm of the gradients the optimizer steps
            with is then logged too (``netviz/clipped_grad_norm``), in the same host
            transfer as the other statistics. Default None.
        {capture_options}

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, an unknown option or one of the wrong type.
        ValueError: a model without parameters, an option out of range, a layer
            pattern that matches no layer, ``sample_labels`` that are not one class per
            probe sample (see ``check_sample_labels``); ``SampleBatchError`` (a ValueError) for a
            ``sample_batch`` the model cannot take; a malformed ``log_dir`` URL.
        LogDirError: ``log_dir`` cannot be written (for a URL: no bucket, no credentials, no answer).
        ImportError: the package of a ``log_dir`` URL's protocol (``s3fs``...) is not installed.

    Example:
        >>> import tempfile, torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        >>> with NetViz(model, log_dir=tempfile.mkdtemp(), sample_batch=x[:4], log_every_n_steps=1) as viz:
        ...     for step in range(3):
        ...         optimizer.zero_grad()
        ...         nn.functional.cross_entropy(model(x), y).backward()
        ...         viz.log_gradients(step)
        ...         optimizer.step()
        ...         viz.log_sample(step)
        >>> viz.layers
        ['0', '2']
    """

    def __init__(
        self,
        model: nn.Module,
        log_dir: str | os.PathLike,
        sample_batch: Any = None,
        *,
        sample_labels: Any = None,
        optimizer: torch.optim.Optimizer | None = None,
        **capture_options: Unpack[CaptureOptionKwargs],
    ) -> None:
        options = CaptureOptions.from_kwargs(type(self).__name__, **capture_options)
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        sharding = sharding_of(model)
        if sharding is not None and sharding.loss_scaled:
            raise ValueError(f"tb-netviz: NetViz cannot log this model: {DEEPSPEED_FP16_REASON}")
        statistics = sharding.statistics if sharding is not None else None
        limited = sharding is not None and not sharding.per_layer
        if limited and sharding.writes:
            warn_from_caller(sharding.limitation, NetVizWriteWarning)
        self._capture = Capture(
            model,
            options,
            None if limited else sample_batch,
            sample_labels=None if limited else sample_labels,
            statistics=statistics,
            rows=not limited,
        )
        if sharding is None or sharding.writes:
            self._capture.writer = NetVizWriter(log_dir)
        self.log_dir = self._capture.writer.log_dir if self._capture.writer else os.fspath(log_dir)
        self._step_hook = optimizer.register_step_post_hook(self._after_step) if optimizer else None
        self._last_step: int | None = None
        self._closed = False

    @property
    def layers(self) -> list[str]:
        """The layers shown, in forward order (the rows of ``netviz/gradient_flow``)."""
        return self._capture.layer_names

    @property
    def sample_labels(self) -> np.ndarray | None:
        """The probe batch's true classes as int64 ``[N]``, or None."""
        return self._capture.sample_labels

    @property
    def options(self) -> CaptureOptions:
        """The capture options in force."""
        return self._capture.options

    def log_gradients(self, step: int) -> None:
        """Log gradient flow at ``step`` if it is a logged step; call after ``backward()``."""
        step = self._seen(step)
        if not self._closed and self._capture.options.is_gradient_step(step):
            self._capture.log_gradients(step, defer=self._step_hook is not None)

    def log_sample(self, step: int) -> None:
        """Run the sample pass at ``step`` if it is a sample step (or the first step seen)."""
        step = self._seen(step)
        if not self._closed:
            self._capture.log_sample(step)

    def close(self) -> None:
        """Sample the last step if needed, remove all hooks, flush and close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._capture.finish(self._last_step)
        finally:
            if self._step_hook is not None:
                self._step_hook.remove()
                self._step_hook = None
            if self._capture.writer is not None:
                self._capture.writer.close()

    def __enter__(self) -> NetViz:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _after_step(self, _optimizer: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
        self._capture.complete_gradients(clipped=True)

    def _seen(self, step: int) -> int:
        step = checked_step(step)
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        self._last_step = step if self._last_step is None else max(self._last_step, step)
        return step
