"""Grad-CAM of the probe batch in torch: one forward and one ``torch.autograd.grad`` per sample step.

For each target layer with output ``A`` (``[N, C, H, W]``, after ``gradcam_reshape``)
and the score ``y`` of the class explained for each sample, the map is
``ReLU(sum_c mean_hw(dy/dA)_c * A_c)``, bilinearly upsampled to the probe
image's ``H x W`` (``align_corners=False``), as Selvaraju et al. define it.

The gradients are taken with ``torch.autograd.grad`` with respect to the layer
outputs only, so no parameter's ``.grad`` is touched (bit for bit) and no
weight gradient is computed. The pass runs in eval mode with gradients
enabled for it alone (also inside ``torch.no_grad()`` or
``torch.inference_mode()``), works when every parameter is frozen (the first
target output is made a graph leaf), and afterwards puts back every module's
training flag and the CPU and CUDA RNG states; its hooks exist only during the
pass. Each target output is handed on as a copy, so an in-place operation
after the layer (``nn.ReLU(inplace=True)``) does not change the activation kept.
All samples and layers share the one pass: the scores of the samples are
summed before the gradient, which keeps them apart because samples do not
interact in eval mode.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from tb_netviz.summary import CaptureOptions
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    >>> gradcam = GradCam(model, CaptureOptions(gradcam=True), torch.rand(2, 1, 4, 4))
    >>> result = gradcam.run()
    >>> gradcam.layer_names, result.maps["0"].shape, result.classes.shape
    (['0'], torch.Size([2, 4, 4]), torch.Size([2]))
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import nn

from tb_netviz.summary import CaptureOptions
from tb_netviz.summary.gradcam import PROBABILITY_TOLERANCE, GradCamError
from tb_netviz.torch.layers import module_names
from tb_netviz.torch.probe import call_model, to_device

# Layers whose output is [N, C, H, W]: the default target is the last of these the batch enters.
CONV_2D = (nn.Conv2d, nn.ConvTranspose2d)


@dataclasses.dataclass
class GradCamResult:
    """One pass: float32 maps ``[N, H, W]`` by layer, explained classes and their probabilities (device)."""

    maps: dict[str, torch.Tensor]
    classes: torch.Tensor
    probabilities: torch.Tensor


class GradCam:
    """Grad-CAM maps of ``sample_batch`` for the layers ``options`` choose.

    Args:
        model: the model.
        options: ``gradcam_layers``, ``gradcam_target`` and ``gradcam_reshape`` are read.
        sample_batch: the probe batch; its first ``[N, C, H, W]`` floating tensor is the image.
        sample_labels: int64 ``[N]`` true classes (needed for ``gradcam_target="label"``).
        entered: the modules in the order the batch enters them (the first sample
            pass records it); None runs a forward pass here to find it.
        forward_context: entered around the forward pass (Lightning's precision).

    Raises:
        GradCamError: no image in the batch, a pattern matching no module, no conv
            layer for the default, or ``"label"`` without ``sample_labels``.
    """

    def __init__(
        self,
        model: nn.Module,
        options: CaptureOptions,
        sample_batch: Any,
        sample_labels: np.ndarray | None = None,
        entered: Sequence[nn.Module] | None = None,
        forward_context: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    ) -> None:
        self.model = model
        self.target = options.gradcam_target
        self.reshape = options.gradcam_reshape
        self.sample_batch = sample_batch
        self.image = probe_image(sample_batch)
        self._forward_context = forward_context
        if self.target == "label" and sample_labels is None:
            raise GradCamError("gradcam_target='label' needs sample_labels (the true class of each sample)")
        self.labels = None if sample_labels is None else torch.as_tensor(sample_labels, dtype=torch.int64)
        names = module_names(model)
        order = list(entered) if entered is not None else self._entered()
        ordered = [names[m] for m in dict.fromkeys(order) if m in names]
        convs = [names[m] for m in order if isinstance(m, CONV_2D)]
        try:
            chosen = set(options.select_gradcam_layers(ordered, convs[-1] if convs else None))
        except ValueError as error:
            raise GradCamError(str(error)) from None
        by_name = {name: module for module, name in names.items()}
        self.layer_names = [name for name in ordered if name in chosen]
        self._modules = [by_name[name] for name in self.layer_names]

    def run(self) -> GradCamResult:
        """One Grad-CAM pass over the probe batch.

        Raises:
            GradCamError: a layer output without two spatial axes (naming layer and
                shape), a model output that is not ``[N, classes]`` scores, a target
                class out of range, or a layer the output does not depend on.
        """
        kept: dict[int, torch.Tensor] = {}
        device = _device_of(self.model)
        with _restored_modes_and_rng(self.model), torch.inference_mode(False), torch.enable_grad():
            handles = [m.register_forward_hook(_keeper(i, kept)) for i, m in enumerate(self._modules)]
            try:
                with self._forward_context():
                    output = call_model(self.model, _normal_tensors(to_device(self.sample_batch, device)))
            finally:
                for handle in handles:
                    handle.remove()
            scores = _class_scores(output)
            classes = self._classes(scores)
            missing = [self.layer_names[i] for i in range(len(self._modules)) if i not in kept]
            if missing:
                raise GradCamError(f"gradcam layers {missing} were not called by the forward pass")
            outputs = [kept[i] for i in range(len(self._modules))]
            chosen = scores.gather(1, classes[:, None]).sum()
            grads = torch.autograd.grad(chosen, outputs, allow_unused=True)
            maps = {
                name: self._map(name, output.detach(), grad)
                for name, output, grad in zip(self.layer_names, outputs, grads, strict=True)
            }
        return GradCamResult(maps, classes, _probabilities(scores.detach()).gather(1, classes[:, None])[:, 0])

    def _map(self, name: str, output: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
        if grad is None:
            raise GradCamError(f"the model output does not depend on gradcam layer {name!r}")
        if self.reshape is not None:
            output, grad = self.reshape(output), self.reshape(grad)
        if output.dim() != 4 or output.shape != grad.shape:
            hint = "" if self.reshape is not None else "; for token outputs give gradcam_reshape"
            raise GradCamError(
                f"gradcam layer {name!r} gives shape {list(output.shape)}, which is not "
                f"[N, C, H, W] (two spatial axes){hint}"
            )
        weights = grad.float().mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * output.float()).sum(dim=1, keepdim=True))
        size = self.image.shape[2:]
        return nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]

    def _classes(self, scores: torch.Tensor) -> torch.Tensor:
        count = scores.shape[1]
        if self.target == "predicted":
            return scores.detach().argmax(dim=1)
        if self.target == "label":
            classes = self.labels.to(scores.device)
            if int(classes.max()) >= count:
                raise GradCamError(
                    f"sample_labels has class {int(classes.max())} but the model gives {count} class scores"
                )
            return classes
        if self.target >= count:
            raise GradCamError(
                f"gradcam_target={self.target} is out of range: the model gives {count} classes"
            )
        return torch.full((scores.shape[0],), self.target, dtype=torch.int64, device=scores.device)

    def _entered(self) -> list[nn.Module]:
        entered: list[nn.Module] = []
        handles = [m.register_forward_pre_hook(lambda m, _a: entered.append(m)) for m in self.model.modules()]
        try:
            with _restored_modes_and_rng(self.model), torch.no_grad(), self._forward_context():
                call_model(self.model, to_device(self.sample_batch, _device_of(self.model)))
        finally:
            for handle in handles:
                handle.remove()
        return entered


def probe_image(batch: Any) -> torch.Tensor:
    """The first floating ``[N, C, H, W]`` tensor of ``batch``: the images the maps are drawn over.

    Raises:
        GradCamError: the batch holds no such tensor.

    >>> probe_image((torch.zeros(2, 5), torch.zeros(2, 3, 8, 8))).shape
    torch.Size([2, 3, 8, 8])
    """
    tensors = [batch] if isinstance(batch, torch.Tensor) else _tensors(batch)
    for tensor in tensors:
        if tensor.dim() == 4 and tensor.is_floating_point():
            return tensor
    shapes = [list(t.shape) for t in tensors]
    raise GradCamError(
        f"gradcam needs an image batch [N, C, H, W] in sample_batch, got tensors of shapes {shapes}"
    )


def images_for_overlay(image: torch.Tensor) -> np.ndarray:
    """The probe images as a host ``[N, H, W, C]`` float32 array (channels last, for the writer).

    >>> images_for_overlay(torch.zeros(2, 3, 4, 5)).shape
    (2, 4, 5, 3)
    """
    return image.detach().float().permute(0, 2, 3, 1).cpu().numpy()


def _tensors(batch: Any) -> list[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        return [batch]
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else ()
    return [tensor for value in values for tensor in _tensors(value)]


def _normal_tensors(batch: Any) -> Any:
    """``batch`` with every inference tensor (made under ``torch.inference_mode``) cloned into a normal one,
    which autograd may save for the backward pass."""
    if isinstance(batch, torch.Tensor):
        return batch.clone() if batch.is_inference() else batch
    if isinstance(batch, dict):
        return {key: _normal_tensors(value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_normal_tensors(value) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_normal_tensors(value) for value in batch)
    return batch


def _keeper(index: int, kept: dict[int, torch.Tensor]) -> Callable:
    def keep(_module: nn.Module, _args: Any, output: Any) -> Any:
        if index in kept:
            return None  # a module called twice: its first call is the one explained
        tensor = output if isinstance(output, torch.Tensor) else None
        if tensor is None and isinstance(output, (tuple, list)) and output:
            tensor = output[0] if isinstance(output[0], torch.Tensor) else None
        if tensor is None or not tensor.is_floating_point():
            return None
        if not tensor.requires_grad:  # frozen parameters (or none) up to here: start the graph
            tensor = tensor.detach().requires_grad_()
        kept[index] = tensor
        handed_on = tensor.clone()
        if isinstance(output, torch.Tensor):
            return handed_on
        return (
            type(output)([handed_on, *output[1:]]) if isinstance(output, list) else (handed_on, *output[1:])
        )

    return keep


def _class_scores(output: Any) -> torch.Tensor:
    scores = output
    if not isinstance(scores, torch.Tensor):
        scores = output.get("logits") if isinstance(output, dict) else getattr(output, "logits", None)
    if not isinstance(scores, torch.Tensor) and isinstance(output, (tuple, list)) and output:
        scores = output[0]
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        shape = list(scores.shape) if isinstance(scores, torch.Tensor) else type(output).__name__
        raise GradCamError(f"gradcam needs the model to return class scores [N, classes], got {shape}")
    return scores


def _probabilities(scores: torch.Tensor) -> torch.Tensor:
    scores = scores.float()
    sums = scores.sum(dim=1)
    is_distribution = bool(
        (scores >= 0).all() and (scores <= 1).all() and ((sums - 1).abs() <= PROBABILITY_TOLERANCE).all()
    )
    return scores if is_distribution else torch.softmax(scores, dim=1)


def _device_of(model: nn.Module) -> torch.device | None:
    for tensor in model.parameters():
        return tensor.device
    return None


@contextlib.contextmanager
def _restored_modes_and_rng(model: nn.Module) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        model.eval()
        yield
    finally:
        for module, training in modes:
            module.training = training
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
