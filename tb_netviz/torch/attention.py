"""Attention matrices ``[heads, queries, keys]`` of the probe batch's first sample.

Two sources:

* ``nn.MultiheadAttention``: during the probe pass a forward pre-hook asks it for
  per-head weights (``need_weights=True, average_attn_weights=False``), which
  also covers ``TransformerEncoderLayer`` / ``TransformerDecoderLayer`` that
  call it with ``need_weights=False``; a forward hook records them and hands the
  caller exactly the output it asked for.
* modules calling ``torch.nn.functional.scaled_dot_product_attention``: the
  function returns no weights, so during the probe pass it is wrapped and the
  weights are recomputed from q, k, the mask, ``is_causal``, ``scale`` and
  ``enable_gqa`` as softmax(q k^T * scale + bias), and attributed to the
  innermost module running at that moment. A module that imported the function
  under its own name (``from torch.nn.functional import scaled_dot_product_attention``)
  before the probe is not seen.

Example:
    >>> import torch
    >>> q = k = torch.randn(1, 2, 3, 4)
    >>> weights = sdpa_weights(q, k, is_causal=True)
    >>> weights.shape, float(weights[0, 0, 1])
    (torch.Size([2, 3, 3]), 0.0)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

_MHA_SIGNATURE = inspect.signature(nn.MultiheadAttention.forward)
_SDPA_PARAMETERS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


def sdpa_weights(
    query: torch.Tensor,
    key: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """The attention weights SDPA applies to the first sample: float32 ``[heads, L, S]``.

    Inputs have SDPA's shapes: ``[N, ..., L, E]`` queries and ``[N, ..., S, E]``
    keys (leading dimensions after the batch become heads), a mask broadcastable
    to ``[N, ..., L, S]`` (bool: True takes part; float: added to the scores).
    """
    length, width = query.shape[-2], query.shape[-1]
    source = key.shape[-2]
    q = _first_sample(query).reshape(-1, length, width).float()
    k = _first_sample(key).reshape(-1, source, key.shape[-1]).float()
    if enable_gqa and k.shape[0] != q.shape[0]:
        k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)
    factor = 1.0 / math.sqrt(width) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * factor
    if is_causal:
        allowed = torch.ones(length, source, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~allowed, -math.inf)
    if attn_mask is not None:
        mask = attn_mask.expand(*query.shape[:-2], length, source) if query.dim() > 2 else attn_mask
        mask = _first_sample(mask).reshape(-1, length, source) if query.dim() > 2 else mask[None]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, -math.inf)
        else:
            scores = scores + mask.float()
    return torch.softmax(scores, dim=-1)


def _first_sample(tensor: torch.Tensor) -> torch.Tensor:
    return tensor[0] if tensor.dim() > 2 else tensor


class AttentionRecorder:
    """Records first-sample attention of chosen modules during one probe pass.

    Args:
        names: module -> layer name, for the modules whose attention is wanted.
        current_module: returns the innermost module running now (for SDPA calls).
        max_heads: heads kept per layer (None keeps all).
    """

    def __init__(
        self,
        names: dict[nn.Module, str],
        current_module: Callable[[], nn.Module | None],
        max_heads: int | None,
    ) -> None:
        self.names = names
        self.current_module = current_module
        self.max_heads = max_heads
        self.weights: dict[str, torch.Tensor] = {}
        self.sdpa_callers: list[nn.Module] = []
        self._asked: dict[int, list[tuple[bool, bool]]] = {}

    def attach(self, hooks: list[Any]) -> None:
        """Register the MultiheadAttention hooks; handles are appended to ``hooks``."""
        for module in self.names:
            if isinstance(module, nn.MultiheadAttention):
                hooks.append(module.register_forward_pre_hook(self._ask_for_weights, with_kwargs=True))
                hooks.append(module.register_forward_hook(self._take_weights, with_kwargs=True))

    def wrap_sdpa(self, original: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        """A drop-in ``scaled_dot_product_attention`` that also records weights."""

        def scaled_dot_product_attention(*args: Any, **kwargs: Any) -> torch.Tensor:
            output = original(*args, **kwargs)
            module = self.current_module()
            if module is not None and not isinstance(module, nn.MultiheadAttention):
                self._record_sdpa(module, dict(zip(_SDPA_PARAMETERS, args, strict=False)) | kwargs)
            return output

        return scaled_dot_product_attention

    def _record_sdpa(self, module: nn.Module, call: dict[str, Any]) -> None:
        if module not in self.sdpa_callers:
            self.sdpa_callers.append(module)
        name = self.names.get(module)
        if name is None or name in self.weights:
            return
        weights = sdpa_weights(
            call["query"],
            call["key"],
            call.get("attn_mask"),
            bool(call.get("is_causal", False)),
            call.get("scale"),
            bool(call.get("enable_gqa", False)),
        )
        self.weights[name] = weights[: self.max_heads]

    def _ask_for_weights(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        bound = _MHA_SIGNATURE.bind(module, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self")
        asked = (bool(arguments["need_weights"]), bool(arguments["average_attn_weights"]))
        self._asked.setdefault(id(module), []).append(asked)
        arguments["need_weights"] = True
        arguments["average_attn_weights"] = False
        return (), arguments

    def _take_weights(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        need_weights, average = self._asked[id(module)].pop()
        attention, weights = output
        name = self.names[module]
        if name not in self.weights and weights is not None:
            first = weights[0] if weights.dim() == 4 else weights
            self.weights[name] = first[: self.max_heads].float()
        if not need_weights:
            return attention, None
        if average and weights is not None:
            return attention, weights.mean(dim=-3)
        return output
