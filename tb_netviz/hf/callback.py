"""``NetVizCallback``: netviz capture for the Hugging Face ``transformers.Trainer``.

The Trainer clips the gradients right before ``on_pre_optimizer_step``, and
no callback runs between the last backward of a step and that clipping. So
that the statistics describe the gradients before clipping, as in Lightning and
the plain loop, the callback takes the clipping over: when training begins it
sets ``args.max_grad_norm`` to 0 (the Trainer then still computes, unscales
under fp16 and logs its pre-clip ``grad_norm``, but does not clip) and, in
``on_pre_optimizer_step`` of every step, on every rank, it measures and then
clips to the original ``max_grad_norm`` with ``torch.nn.utils.clip_grad_norm_``,
which is what the Trainer does for a single process and for DDP. The value is
put back when training ends (after a ``train()`` that raised: when the next one
begins). The gradients measured are those of the whole optimizer step:
accumulated over ``gradient_accumulation_steps``, unscaled under fp16 loss scaling,
averaged over DDP ranks; the global norm after
clipping is logged as ``netviz/clipped_grad_norm``.

Runs whose parameters are sharded across processes (DTensor or FSDP1 parameters in the model itself)
use the shard-aware statistics: every rank measures, one collective per logged step, rank zero
writes. Under the Trainer's DeepSpeed integration (``args.deepspeed``, ZeRO stages 1, 2
and 3, each tested) DeepSpeed runs its optimizer step and its clipping inside the Trainer's backward,
before ``on_pre_optimizer_step``; the callback then wraps the ``step`` of the engine's ZeRO
optimizer during ``train()`` and measures this rank's gradient fragments when the engine calls
it, before DeepSpeed clips. The clipping stays DeepSpeed's, so no clipped norm is logged (the
clipped gradients are freed inside that step). ``args.fsdp`` on a CPU has no effect (accelerate
applies its FSDP plugin on GPU-type devices only, and the Trainer runs DDP): the callback says so
and logs the run as DDP. Where the Trainer's FSDP integration is active, and for DeepSpeed without
ZeRO or with fp16, it warns once and logs nothing (training is not affected).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from typing_extensions import Unpack

from tb_netviz.hf.run_dir import tensorboard_run_dir
from tb_netviz.summary import CaptureOptions, NetVizWriter, NetVizWriteWarning
from tb_netviz.summary.gradcam import check_gradcam_inputs
from tb_netviz.summary.options import CaptureOptionKwargs, documents_capture_options
from tb_netviz.summary.probe_labels import check_sample_labels
from tb_netviz.summary.user_warnings import warn_from_caller
from tb_netviz.torch.capture import Capture
from tb_netviz.torch.distributed import DEEPSPEED_FP16_REASON, Sharding, sharding_of
from tb_netviz.torch.probe import batch_size


@documents_capture_options
class NetVizCallback(TrainerCallback):
    """Logs gradient flow, activation statistics, feature maps, attention and alerts in ``Trainer.train``.

    Args:
        log_dir: the run directory. Default None: the run directory of the Trainer's
            TensorBoard logging (``$TENSORBOARD_LOGGING_DIR``, else the
            ``<output_dir>/runs/<date>_<host>`` its TensorBoardCallback creates), so the
            NetViz and Scalars tabs describe one run; ``<output_dir>/netviz`` without it.
        sample_batch: a fixed probe batch for activations and attention, called as
            ``model(**x)`` for a dict (e.g. ``{"input_ids": ...}``), ``model(*x)`` for a
            tuple, ``model(x)`` for a tensor, on the model's device; None logs gradient
            flow only. It is run once when training starts, to check it and find the
            forward order. Grad-CAM maps are of its images (``pixel_values``).
        sample_labels: the probe batch's true classes, one per sample, or None.
        {capture_options}

    Raises:
        TypeError, ValueError: an unknown option, or one of the wrong type or out of range (here); a
            model without parameters, a layer pattern that matches no layer or a
            ``sample_batch`` the model cannot take (``SampleBatchError``), when training starts.

    Example::

        trainer = transformers.Trainer(
            model, args, train_dataset=data, callbacks=[NetVizCallback(sample_batch={"input_ids": ids})]
        )
        trainer.train()
    """

    _deepspeed_step: _InterceptedStep | None = None  # the ZeRO optimizer's step, wrapped during train()

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        sample_batch: Any = None,
        *,
        sample_labels: Any = None,
        **capture_options: Unpack[CaptureOptionKwargs],
    ) -> None:
        self.options = CaptureOptions.from_kwargs(type(self).__name__, **capture_options)
        self._requested_log_dir = None if log_dir is None else os.fspath(log_dir)
        self.log_dir: str | None = self._requested_log_dir
        self.sample_batch = sample_batch
        self.sample_labels = check_sample_labels(
            sample_labels, None if sample_batch is None else batch_size(sample_batch)
        )
        check_gradcam_inputs(self.options, sample_batch is not None, self.sample_labels)
        self._capture: Capture | None = None
        self._max_grad_norm: float | None = None
        self._args: TrainingArguments | None = None
        self._built_at = time.time()

    @property
    def layers(self) -> list[str]:
        """The layers shown, in forward order (known once training has started)."""
        return self._capture.layer_names if self._capture else []

    def on_init_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self._built_at = time.time()

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ):
        # A train() that raised (or the Trainer's own retry after an out-of-memory error with
        # auto_find_batch_size) never reached on_train_end: give its clipping back first, or
        # this run would read max_grad_norm=0 and train unclipped.
        self._end_run(state)
        sharding = sharding_of(model)
        refusal = _unsupported_engine(args, sharding, kwargs.get("optimizer"))
        if refusal is not None:
            if state.is_world_process_zero:
                warn_from_caller(refusal, NetVizWriteWarning)
            return
        if getattr(args, "fsdp", None) and sharding is None and state.is_world_process_zero:
            warn_from_caller(
                "tb-netviz: TrainingArguments.fsdp is set, but the model the Trainer trains is not "
                "sharded (accelerate applies its FSDP plugin only on GPU-type devices; on CPU the "
                "Trainer runs DDP): NetViz logs this run as DDP",
                NetVizWriteWarning,
            )
        deepspeed = (
            _deepspeed_optimizer(kwargs.get("optimizer")) if getattr(args, "deepspeed", None) else None
        )
        capture = Capture(
            model,
            self.options,
            self.sample_batch,
            sample_labels=self.sample_labels,
            statistics=sharding.statistics if sharding else None,
        )
        if state.is_world_process_zero:
            capture.writer = NetVizWriter(
                self._requested_log_dir or tensorboard_run_dir(args.output_dir, self._built_at)
            )
            self.log_dir = capture.writer.log_dir
        if state.is_world_process_zero or sharding is not None:
            self._capture = capture
        if deepspeed is not None:
            # DeepSpeed steps (and clips) inside accelerate's backward, before on_pre_optimizer_step:
            # the statistics are taken when the engine calls its ZeRO optimizer's step, which
            # clips before it updates.
            self._deepspeed_step = _InterceptedStep(deepspeed, lambda: self._log_gradients(state, False))
        elif args.max_grad_norm and args.max_grad_norm > 0:
            self._max_grad_norm, self._args = float(args.max_grad_norm), args
            args.max_grad_norm = 0.0

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ):
        if self._deepspeed_step is not None:
            return  # measured in DeepSpeed's step, which has run already
        self._log_gradients(state, defer=self._max_grad_norm is not None)
        if self._max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self._max_grad_norm)
        if self._capture is not None:
            self._capture.complete_gradients(clipped=self._max_grad_norm is not None)

    def _log_gradients(self, state: TrainerState, defer: bool) -> None:
        """Measure the gradients of this optimizer step if it is a logged one (on every rank)."""
        if self._capture is not None and self.options.is_gradient_step(state.global_step):
            self._capture.log_gradients(state.global_step, defer=defer)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if self._capture is not None:
            self._capture.log_sample(state.global_step - 1)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self._end_run(state)

    def _end_run(self, state: TrainerState) -> None:
        """Give ``max_grad_norm`` back, write the last sample pass and close the writer (once)."""
        if self._args is not None:
            self._args.max_grad_norm, self._args = self._max_grad_norm, None
        self._max_grad_norm = None
        if self._deepspeed_step is not None:
            self._deepspeed_step.restore()
            self._deepspeed_step = None
        capture, self._capture = self._capture, None
        if capture is None:
            return
        try:
            capture.finish(state.global_step - 1 if state.global_step > 0 else None)
        finally:
            if capture.writer is not None:
                capture.writer.close()


def _unsupported_engine(args: TrainingArguments, sharding: Sharding | None, optimizer: Any) -> str | None:
    """The warning for a Trainer integration NetViz does not log, or None when it logs the run."""
    ending = "; nothing is logged in this run (training is not affected)"
    if getattr(args, "deepspeed", None):
        zero = sharding is not None and sharding.engine == "DeepSpeed ZeRO"
        if not zero or _deepspeed_optimizer(optimizer) is None:
            return (
                "tb-netviz: NetViz reads the Trainer's DeepSpeed integration with ZeRO stage 1-3 "
                f"only (without ZeRO partitioning DeepSpeed clips before its optimizer step){ending}"
            )
        config = getattr(args, "hf_deepspeed_config", None)
        if args.fp16 or (config is not None and config.is_true("fp16.enabled")) or sharding.loss_scaled:
            return f"tb-netviz: {DEEPSPEED_FP16_REASON}{ending}"
    elif getattr(args, "fsdp", None) and sharding is not None:
        return (
            "tb-netviz: the Trainer's FSDP integration (accelerate's FSDP plugin) is not supported "
            "yet: it runs on GPU-type devices only, where NetViz's clipping has not been checked "
            f"against accelerate's{ending}"
        )
    return None


def _deepspeed_optimizer(optimizer: Any) -> Any:
    """The DeepSpeed optimizer in the Trainer's (accelerate's ``DeepSpeedOptimizerWrapper``), if any."""
    inner = getattr(optimizer, "optimizer", None)
    return inner if type(inner).__module__.startswith("deepspeed.") else None


class _InterceptedStep:
    """Calls ``before()`` at the start of every ``optimizer.step()`` until ``restore()``.

    The wrapper is an attribute of the optimizer object; ``restore`` removes it (or puts back
    an attribute the object had), leaving the optimizer as it was found.
    """

    def __init__(self, optimizer: Any, before: Callable[[], None]) -> None:
        self.optimizer = optimizer
        self._own = vars(optimizer).get("step")
        original = optimizer.step

        def step(*args: Any, **kwargs: Any) -> Any:
            before()
            return original(*args, **kwargs)

        optimizer.step = step

    def restore(self) -> None:
        """Give the optimizer its own ``step`` back."""
        if self._own is not None:
            self.optimizer.step = self._own
        else:
            del self.optimizer.step
