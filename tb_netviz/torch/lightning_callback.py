"""``NetVizCallback``: netviz capture for Lightning's ``Trainer``.

Gradients are read in ``on_before_optimizer_step``: after gradient accumulation,
after the AMP unscale, before clipping, and (under DDP) after the all-reduce.
When Lightning clips (``gradient_clip_val`` set, or ``configure_gradient_clipping``
overridden) the global norm of the clipped gradients is read in
``on_train_batch_end``, once the optimizer has stepped with them, and joins the
statistics in their single host transfer. Only global rank zero writes.

Strategies that shard the parameters: ``ModelParallelStrategy`` (``fully_shard``
in ``configure_model``; DTensor parameters), ``FSDPStrategy`` (FSDP1 with
Lightning's default ``use_orig_params=True``) and ``DeepSpeedStrategy`` (ZeRO
stages 2 and 3). In ``on_before_optimizer_step`` the gradients are reduced and
sharded; every rank measures its own pieces, one ``all_gather`` per logged step
combines them into the statistics of the whole gradients (a second one adds up
the histogram counts with ``histograms=True``), the sample pass runs on every
rank (a forward on rank zero alone would wait forever for the engine's
all-gathers) and rank zero writes. Under DeepSpeed that hook runs after
``engine.backward`` and before ``engine.step``, before every micro-batch's step
(DeepSpeed accumulates itself): the gradients are read at its accumulation
boundary only, from this rank's fragments. DeepSpeed clips inside
``engine.step`` and releases its gradients there, so no clipped norm is logged.
``FSDPStrategy`` with ``use_orig_params=False``, and DeepSpeed in fp16 (its gradients
are still multiplied by the loss scale in that hook), are not supported: the callback
warns once per ``fit`` and logs nothing; training goes on.
"""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy, Strategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from typing_extensions import Unpack

from tb_netviz.summary import CaptureOptions, NetVizWriter, NetVizWriteWarning
from tb_netviz.summary.gradcam import check_gradcam_inputs
from tb_netviz.summary.options import CaptureOptionKwargs, documents_capture_options
from tb_netviz.summary.probe_labels import check_sample_labels
from tb_netviz.summary.remote_store import check_log_dir
from tb_netviz.summary.user_warnings import warn_from_caller
from tb_netviz.torch.capture import Capture
from tb_netviz.torch.distributed import DEEPSPEED_FP16_REASON, Sharding, deepspeed_config_fp16, sharding_of
from tb_netviz.torch.probe import batch_size


@documents_capture_options
class NetVizCallback(pl.Callback):
    """Logs gradient flow, activation statistics, feature maps, attention and alerts in ``Trainer.fit``.

    Args:
        log_dir: the run directory. Default None: the directory of the trainer's
            ``TensorBoardLogger`` (so NetViz and Scalars describe one run), else
            ``trainer.default_root_dir``. A URL (``s3://bucket/run``, any fsspec
            protocol) writes to object storage, as the logger does.
        sample_batch: a fixed probe batch for activations, feature maps and attention,
            called as ``pl_module(x)`` (``(*x)`` for a tuple, ``(**x)`` for a dict) on the
            module's device and under the trainer's precision; None logs gradient flow only.
            It is run once when training starts, to check it and find the forward order.
        sample_labels: the true class of each ``sample_batch`` sample (a list, array or
            tensor of class indices ``[N]``, or one-hot ``[N, classes]``), shown beside
            the sample in the views of the probe batch. Checked here. Default None.
        {capture_options}

    Raises:
        TypeError, ValueError: an unknown option, or one of the wrong type or out of range, or
            ``sample_labels`` that are not one class per probe sample (here); a model
            without parameters, a layer pattern that matches no layer or a ``sample_batch``
            the module cannot take (``SampleBatchError``), when training starts; a
            malformed ``log_dir`` URL (here).
        ImportError: the package of a ``log_dir`` URL's protocol (``s3fs``...) is not installed.
        LogDirError: when training starts: ``log_dir`` cannot be written.

    Example::

        trainer = lightning.Trainer(callbacks=[NetVizCallback(sample_batch=x[:8], log_every_n_steps=5)])
        trainer.fit(model, loader)
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        sample_batch: Any = None,
        *,
        sample_labels: Any = None,
        **capture_options: Unpack[CaptureOptionKwargs],
    ) -> None:
        self.options = CaptureOptions.from_kwargs(type(self).__name__, **capture_options)
        if log_dir is not None:
            check_log_dir(log_dir)  # a malformed URL or a missing protocol package fails here, not in fit
        self._requested_log_dir = None if log_dir is None else os.fspath(log_dir)
        self.log_dir: str | None = self._requested_log_dir
        self.sample_batch = sample_batch
        self.sample_labels = check_sample_labels(
            sample_labels, None if sample_batch is None else batch_size(sample_batch)
        )
        check_gradcam_inputs(self.options, sample_batch is not None, self.sample_labels)
        self._capture: Capture | None = None
        self._clipping = False
        self._last_gradient_step: int | None = None
        self._steps_done = 0

    @property
    def layers(self) -> list[str]:
        """The layers shown, in forward order (known once training has started)."""
        return self._capture.layer_names if self._capture else []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sharding = self._sharding(trainer, pl_module)
        if sharding is False:
            return
        precision = trainer.strategy.precision_plugin
        capture = Capture(
            pl_module,
            self.options,
            self.sample_batch,
            precision.forward_context,
            sample_labels=self.sample_labels,
            statistics=sharding.statistics if sharding else None,
        )
        # DeepSpeed clips inside engine.step and releases its gradients there: nothing to measure after.
        self._clipping = not _deepspeed(trainer) and (
            bool(trainer.gradient_clip_val) or is_overridden("configure_gradient_clipping", pl_module)
        )
        self._steps_done = trainer.global_step
        self._last_gradient_step = None
        if trainer.is_global_zero:
            capture.writer = NetVizWriter(self._requested_log_dir or _default_log_dir(trainer))
            self.log_dir = capture.writer.log_dir
        if trainer.is_global_zero or sharding:
            self._capture = capture  # sharded: every rank measures and joins the collective

    def _sharding(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Sharding | None | bool:
        """The module's ``Sharding``, None when its ranks hold whole parameters, False to log nothing."""
        strategy = sharding_strategy(trainer.strategy)
        if strategy is None:
            return None
        sharding = sharding_of(pl_module, wrapper=trainer.strategy.model)
        loss_scaled = sharding is not None and sharding.loss_scaled
        if _deepspeed(trainer) and (loss_scaled or deepspeed_config_fp16(trainer.strategy.config)):
            reason = DEEPSPEED_FP16_REASON
        elif sharding is None or sharding.per_layer:
            return sharding
        else:  # the root's flat buffer lives on the wrapper, outside the LightningModule
            reason = (
                "use_orig_params=False keeps the parameters as flat buffers; per-layer statistics "
                "need use_orig_params=True (Lightning's default)"
            )
        if trainer.is_global_zero:
            warn_from_caller(
                f"tb-netviz: {strategy}: {reason}; nothing is logged in this fit (training is not affected)",
                NetVizWriteWarning,
            )
        return False

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        step = trainer.global_step
        if self._capture is None or step == self._last_gradient_step:
            return
        if _deepspeed(trainer) and not trainer.strategy.deepspeed_engine.is_gradient_accumulation_boundary():
            return  # DeepSpeed accumulates itself: this hook runs before every micro-batch's engine.step
        if self.options.is_gradient_step(step):
            self._last_gradient_step = step
            self._capture.log_gradients(step, defer=self._clipping)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._capture is None or trainer.global_step == self._steps_done:
            return
        self._steps_done = trainer.global_step
        self._capture.complete_gradients(clipped=self._clipping)
        self._capture.log_sample(trainer.global_step - 1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close(trainer.global_step - 1 if trainer.global_step > 0 else None)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._close(None)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._close(None)

    def _close(self, last_step: int | None) -> None:
        capture, self._capture = self._capture, None
        if capture is None:
            return
        try:
            capture.finish(last_step)
        finally:
            if capture.writer is not None:
                capture.writer.close()


def sharding_strategy(strategy: Strategy) -> str | None:
    """The class name of ``strategy`` if it shards parameters across processes, else None.

    >>> from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy
    >>> sharding_strategy(FSDPStrategy()), sharding_strategy(DDPStrategy())
    ('FSDPStrategy', None)
    """
    if isinstance(strategy, (FSDPStrategy, DeepSpeedStrategy, ModelParallelStrategy)):
        return type(strategy).__name__
    return None


def _deepspeed(trainer: pl.Trainer) -> bool:
    return isinstance(trainer.strategy, DeepSpeedStrategy)


def _default_log_dir(trainer: pl.Trainer) -> str:
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.log_dir
    return trainer.default_root_dir
