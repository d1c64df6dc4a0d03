"""How a model is spread over processes, and the statistics that fit it.

``sharding_of(model)`` recognises the engines whose ranks each hold a piece of
every parameter: FSDP2 and tensor parallelism (``DTensor`` parameters), DeepSpeed
ZeRO (``engine.module`` after ``deepspeed.initialize``) and FSDP1
(``FullyShardedDataParallel``). For those it returns a ``Sharding``, which builds
a ``ShardedGradientStatistics`` reading this rank's pieces; for a model whose
ranks hold whole parameters (one process, DDP) it returns None and the ordinary
statistics apply. Only rank zero writes (``Sharding.writes``).

Example:
    >>> from torch import nn
    >>> sharding_of(nn.Linear(2, 2)) is None
    True
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from tb_netviz.torch.layers import Layer
from tb_netviz.torch.sharded_stats import ShardedGradientStatistics
from tb_netviz.torch.shards import (
    PieceReader,
    deepspeed_piece,
    dtensor_piece,
    flat_piece,
    is_deepspeed_partitioned,
    is_dtensor,
)

#: Why a DeepSpeed run in fp16 is not logged (the plain loop, Lightning and the HF Trainer say it).
DEEPSPEED_FP16_REASON = (
    "under DeepSpeed fp16 the gradients are still multiplied by the loss scale when NetViz can "
    "read them (DeepSpeed unscales them inside engine.step), and NetViz does not unscale them yet; "
    "bf16 or fp32 runs are logged"
)


@dataclasses.dataclass(frozen=True)
class Sharding:
    """A sharded model's distributed context: the engine's name, this rank, and its piece reader.

    ``per_layer`` is False where the pieces cannot be told apart by layer (FSDP1 with
    ``use_orig_params=False``): only the global norm is logged then (``limitation`` says why).
    ``loss_scaled`` is True for a DeepSpeed engine in fp16, whose gradients NetViz would read
    multiplied by the loss scale (``DEEPSPEED_FP16_REASON``): the callers log nothing then.
    """

    engine: str
    rank: int
    read_piece: PieceReader
    group: dist.ProcessGroup | None = None
    per_layer: bool = True
    loss_scaled: bool = False

    @property
    def limitation(self) -> str | None:
        """The warning to give once when the statistics are limited to the global norm, else None."""
        if self.per_layer:
            return None
        return (
            f"tb-netviz: {self.engine} keeps the parameters as flat buffers, so per-layer statistics "
            "need use_orig_params=True; only the global gradient norm (netviz/global_grad_norm, and "
            "netviz/clipped_grad_norm) is logged, without the sample pass"
        )

    @property
    def writes(self) -> bool:
        """Whether this rank writes the event file (rank zero of the group)."""
        return self.rank == 0

    def statistics(
        self, layers: list[Layer], selected: list[int], histograms: bool = False
    ) -> ShardedGradientStatistics:
        """The statistics of ``layers`` from this rank's pieces: one collective per logged step,
        two with ``histograms`` (the whole weights' and gradients' histograms)."""
        return ShardedGradientStatistics(
            layers, selected, read_piece=self.read_piece, group=self.group, histograms=histograms
        )


def sharding_of(
    model: nn.Module, group: dist.ProcessGroup | None = None, wrapper: nn.Module | None = None
) -> Sharding | None:
    """The ``Sharding`` of ``model`` if its parameters are sharded across processes, else None.

    ``wrapper`` is the module the engine wraps ``model`` in, when it is outside
    ``model`` (Lightning's ``FSDPStrategy`` wraps the LightningModule).

    FSDP1 with ``use_orig_params=False`` gives a ``Sharding`` with ``per_layer`` False.
    """
    if not isinstance(model, nn.Module):
        return None  # the capture names the problem
    rank = process_rank(group)
    if any(is_dtensor(p) for p in model.parameters()):
        return Sharding("FSDP2 / DTensor", rank, functools.partial(dtensor_piece, rank=rank), group)
    partitioned = [p for p in model.parameters() if is_deepspeed_partitioned(p)]
    if partitioned:
        # DeepSpeed casts the module to float16 exactly when its fp16 (loss-scaled) mode is on.
        fp16 = any(p.dtype == torch.float16 for p in partitioned)
        return Sharding("DeepSpeed ZeRO", rank, deepspeed_piece, group, loss_scaled=fp16)
    fsdp1 = _fsdp1_modules(model if wrapper is None else wrapper)
    if fsdp1:
        orig = all(getattr(m, "_use_orig_params", False) for m in fsdp1)
        engine = "FSDP1" if orig else "FullyShardedDataParallel with use_orig_params=False"
        return Sharding(engine, rank, flat_piece, group, per_layer=orig)
    return None


def _fsdp1_modules(model: nn.Module) -> list[nn.Module]:
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:  # pragma: no cover - torch built without distributed
        return []
    return [m for m in model.modules() if isinstance(m, FullyShardedDataParallel)]


def deepspeed_config_fp16(config: Mapping[str, Any] | None) -> bool:
    """Whether a DeepSpeed config dict turns on fp16 (loss-scaled) training.

    >>> deepspeed_config_fp16({"fp16": {"enabled": True}}), deepspeed_config_fp16({"bf16": {"enabled": True}})
    (True, False)
    """
    fp16 = (config or {}).get("fp16") or {}
    return isinstance(fp16, Mapping) and fp16.get("enabled") is True


def process_rank(group: dist.ProcessGroup | None = None) -> int:
    """This process's rank in ``group`` (the default group), 0 outside distributed training.

    >>> process_rank()
    0
    """
    return dist.get_rank(group) if dist.is_available() and dist.is_initialized() else 0
