"""What a torch model has learned: its kernels and weight matrices, and an embedding of the probe batch.

``LearnedViews`` is built once by ``Capture`` (which checks the options there) and
asked at every sample step for the layers' weights (``write_weights``, no
forward pass) and for the embedding of the pass's features (``write_embedding``).
Only host copies are made on the training thread; layouts, pooling, PCA,
pictures and the Projector files are made on the writer thread.

Convolutions (``nn.Conv1d/2d/3d`` and their transposed forms) are read as
``[out, in, *k]`` (``[in, out, *k]`` transposed), ``nn.Linear`` as ``[out, in]``.
The embedding is the chosen module's output flattened per sample, or, by
default, the input of the last ``nn.Linear`` the probe pass enters.

Example:
    >>> import tempfile, torch
    >>> from torch import nn
    >>> from tb_netviz.summary import CaptureOptions, NetVizWriter
    >>> from tb_netviz.torch.layers import discover_layers
    >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> views = LearnedViews(discover_layers(model), model, CaptureOptions(), batch_size=5, warn=print)
    >>> views.weight_layers, views.embedding_module is model[4], views.embedding_of
    (['0', '2', '4'], True, 'input')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tb_netviz.summary import CaptureOptions, NetVizWriter
from tb_netviz.summary.learned import (
    EmbeddingLog,
    WeightSeries,
    choose_weight_layers,
    classes_from_scores,
    embedding_target,
    weight_view_bytes,
)
from tb_netviz.summary.weights import KERNEL, MATRIX
from tb_netviz.torch.distributed import process_rank
from tb_netviz.torch.layers import Layer, module_names


class LearnedViews:
    """The weight layers and the embedding layer of one model, and their series over the steps.

    Args:
        layers: the model's layers in forward order.
        model: the model.
        options: ``weight_layers``, ``weight_budget_bytes``, ``max_channels``,
            ``embedding``, ``embedding_layer``, ``projector``.
        batch_size: the probe batch's sample count (None without a probe batch).
        warn: called with a message for the layers the budget leaves out.
        sharded: the parameters are sharded across processes (FSDP, DeepSpeed ZeRO): a rank
            holds only its own piece of each weight, so no weights are written; ``warn`` is
            told so once when ``weight_layers`` asked for some.

    Raises:
        ValueError: a ``weight_layers`` pattern that matches no conv or linear layer,
            an ``embedding_layer`` that is no module of the model, or an explicit
            ``embedding_layer`` with a probe batch of fewer than 2 samples (the default
            embedding is then simply not written).
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        model: nn.Module,
        options: CaptureOptions,
        batch_size: int | None,
        warn: Callable[[str], None],
        sharded: bool = False,
    ) -> None:
        self.options = options
        self._channels = options.max_channels
        candidates = {layer.name: _weight_kind(layer.module) for layer in layers}
        candidates = {name: kind for name, kind in candidates.items() if kind is not None}
        self._modules = {layer.name: layer.module for layer in layers}
        sizes = {
            name: weight_view_bytes(
                layout, tuple(self._modules[name].weight.shape), axes, options.max_channels
            )
            for name, (layout, axes) in candidates.items()
        }
        if sharded and options.weight_layers and process_rank() == 0:  # said once, not per rank
            warn(
                "tb-netviz: weight_layers is ignored under sharded parameters (FSDP, DeepSpeed "
                "ZeRO): each rank holds only its own piece of each weight, so no kernel or "
                "matrix pictures are written; the gradient and weight statistics are exact"
            )
        self.weight_layers = [] if sharded else choose_weight_layers(options, sizes, warn)
        self._series = {
            name: WeightSeries(name, *candidates[name], options.max_channels) for name in self.weight_layers
        }
        named = {name: module for module, name in module_names(model).items()}
        linear = [(layer.name, layer.module) for layer in layers if isinstance(layer.module, nn.Linear)]
        target = embedding_target(
            options, batch_size, named, linear[-1] if linear else None, kind="module", model="the model"
        )
        self.embedding_module, self.embedding_name, self.embedding_of = target
        self._embedding = EmbeddingLog(target, options.projector)

    def write_weights(self, writer: NetVizWriter, step: int) -> None:
        """Queue every chosen layer's current weights (one host copy each)."""
        for name in self.weight_layers:
            # The writer takes its own copy: on the CPU this view of the weights is copied once.
            weight = self._modules[name].weight.detach().to(torch.float32)
            writer.weights(step, self._series[name], weight.cpu().numpy())

    def write_embedding(
        self, writer: NetVizWriter, step: int, features: Any, output: Any, labels: np.ndarray | None
    ) -> None:
        """Queue the embedding of ``features`` (the probe pass's capture) with the samples' labels:
        ``labels`` (the ``sample_labels``) when given, else the predicted class from ``output``.

        Raises:
            ValueError: ``features`` is not a tensor (the chosen layer's output is not one).
        """
        if self.embedding_module is None:
            return
        check_embedding_tensor(features, self.embedding_name)
        flat = features.detach().reshape(features.shape[0], -1).to(torch.float32).cpu().numpy()
        self._embedding.write(writer, step, flat, labels, lambda: predicted_classes(output, flat.shape[0]))


def check_embedding_tensor(features: Any, layer: str | None) -> None:
    """Raise a ValueError naming ``layer`` unless ``features`` is an ``[N, ...]`` tensor.

    >>> check_embedding_tensor((torch.ones(2, 3),), "lstm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the embedding layer 'lstm' gives a tuple, not a tensor: ...
    """
    if not isinstance(features, torch.Tensor) or features.dim() < 1:
        raise ValueError(
            f"the embedding layer {layer!r} gives a {type(features).__name__}, not a tensor: choose a "
            "layer whose output is one tensor with embedding_layer=..."
        )


def predicted_classes(output: Any, count: int) -> tuple[np.ndarray, str]:
    """The argmax class of each sample from a ``[N, classes]`` model output (a tensor, the first
    of a tuple, or the ``logits`` of a Hugging Face output), and the label source.

    >>> predicted_classes(torch.tensor([[0.1, 0.9], [2.0, -1.0]]), 2)
    (array([1, 0]), 'predicted')
    >>> predicted_classes({"loss": torch.tensor(1.0)}, 2)
    (array([-1, -1]), 'none')
    """
    tensor = output if isinstance(output, torch.Tensor) else None
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        tensor = output[0]
    if isinstance(getattr(output, "logits", None), torch.Tensor):  # a Hugging Face model output
        tensor = output.logits
    scores = None if tensor is None or tensor.dim() != 2 else tensor.detach().float().cpu().numpy()
    return classes_from_scores(scores, count)


def _weight_kind(module: nn.Module) -> tuple[str, str] | None:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or isinstance(weight, nn.parameter.UninitializedParameter):
        return None
    if isinstance(module, nn.modules.conv._ConvNd) and weight.dim() in (3, 4, 5):
        return KERNEL, "iok" if module.transposed else "oik"
    if isinstance(module, nn.Linear) and weight.dim() == 2:
        return MATRIX, "oi"
    return None
