"""This rank's piece of each parameter and of its gradient, under sharded training.

Each engine stores a rank's part of a parameter differently; a *piece reader*
turns one parameter into a ``Piece``: the plain tensors this rank holds of the
gradient and of the weight, and whether this rank counts them. Pieces of
different ranks must not overlap once ``counted`` is applied, so that sums of
the pieces' partial statistics over the ranks are the statistics of the whole
tensor.

- ``dtensor_piece``: FSDP2 (``fully_shard``) and tensor parallelism, where
  parameters and gradients are ``DTensor``s. The local tensor is this rank's
  piece. Along a mesh dimension placed ``Shard`` the ranks hold different
  entries (all count); along one placed ``Replicate`` they hold the same
  entries, so only coordinate 0 of that dimension counts. A ``Partial``
  placement (unreduced values) cannot be summed entrywise and raises. A plain
  tensor next to DTensors (a parameter left out of ``fully_shard``) is held
  whole by every rank and is counted by rank 0.
- ``flat_piece``: FSDP1 with ``use_orig_params=True``: ``p`` and ``p.grad`` are
  this rank's 1-D slice (0-size, or a ``None`` gradient, where the rank holds
  none of it); every rank counts its own slice.

Example:
    >>> import torch
    >>> piece = dtensor_piece(torch.nn.Parameter(torch.ones(3)), rank=1)
    >>> piece.grad is None, piece.weight.shape, piece.counted
    (True, torch.Size([3]), False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

try:  # torch >= 2.4 has the public module; older versions keep DTensor private
    from torch.distributed.tensor import DTensor
except ImportError:  # pragma: no cover - depends on the torch version
    from torch.distributed._tensor import DTensor  # type: ignore[no-redef]


@dataclasses.dataclass(frozen=True)
class Piece:
    """What one rank holds of one parameter.

    ``grad`` is None when the parameter has no gradient on this rank; ``counted``
    is False when another rank holds (and counts) the same entries.
    """

    grad: torch.Tensor | None
    weight: torch.Tensor
    counted: bool = True
    grad_counted: bool = True


PieceReader = Callable[[torch.nn.Parameter], Piece]


def is_dtensor(tensor: object) -> bool:
    """Whether ``tensor`` is a ``DTensor`` (a sharded or replicated distributed tensor).

    >>> is_dtensor(torch.ones(2))
    False
    """
    return isinstance(tensor, DTensor)


def dtensor_piece(parameter: torch.nn.Parameter, rank: int) -> Piece:
    """The local piece of a DTensor parameter and gradient; a plain tensor counts on rank 0 only.

    Raises:
        ValueError: a placement is ``Partial`` (the values are not reduced yet).
    """
    weight = parameter.detach()
    grad = parameter.grad
    weight_counted = _counted(weight, rank)
    grad_counted = weight_counted if grad is None else _counted(grad, rank)
    return Piece(_local(grad), _local(weight), weight_counted, grad_counted)


def flat_piece(parameter: torch.nn.Parameter) -> Piece:
    """FSDP1 ``use_orig_params=True``: this rank's flat slice, counted by this rank."""
    return Piece(parameter.grad, parameter.detach())


def _local(tensor: torch.Tensor | None) -> torch.Tensor | None:
    if tensor is None:
        return None
    tensor = tensor.detach()
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def _counted(tensor: torch.Tensor, rank: int) -> bool:
    if not isinstance(tensor, DTensor):
        return rank == 0
    coordinate = tensor.device_mesh.get_coordinate()
    if coordinate is None:
        return False
    for dim, placement in enumerate(tensor.placements):
        if placement.is_partial():
            raise ValueError(
                f"a DTensor placed {tensor.placements} holds unreduced (Partial) values: "
                "its statistics need the reduced gradient"
            )
        if placement.is_replicate() and coordinate[dim] != 0:
            return False
    return True


def is_deepspeed_partitioned(parameter: torch.nn.Parameter) -> bool:
    """Whether DeepSpeed ZeRO partitions ``parameter``: stage 3 (``ds_tensor``) or the fragment
    mapping of stages 1 and 2 (``_hp_mapping``, set by ``deepspeed.initialize``)."""
    return hasattr(parameter, "ds_tensor") or hasattr(parameter, "_hp_mapping")


def deepspeed_piece(parameter: torch.nn.Parameter) -> Piece:
    """This rank's fragment of a DeepSpeed ZeRO parameter and its gradient, between
    ``engine.backward`` and ``engine.step`` (the gradients are not in ``p.grad`` then).

    ZeRO-3: ``safe_get_local_grad`` / ``safe_get_local_fp32_param``, this rank's equal-sized
    partition, trimmed of the padding that fills the last one (its values are not zero).
    ZeRO-1/2: the parameter's fragment mapping (``_hp_mapping``): the gradient fragment of
    the reduced, partitioned gradients and the fp32 master fragment; None where this rank
    holds no part of the parameter.
    """
    if hasattr(parameter, "ds_tensor"):
        from deepspeed.utils import safe_get_local_fp32_param, safe_get_local_grad

        valid = _zero3_valid_entries(parameter)
        grad = safe_get_local_grad(parameter)
        weight = safe_get_local_fp32_param(parameter)
        return Piece(None if grad is None else grad.reshape(-1)[:valid], weight.reshape(-1)[:valid])
    mapping = getattr(parameter, "_hp_mapping", None)
    if mapping is None:
        return Piece(None, parameter.detach().reshape(-1)[:0])
    address = mapping.lp_fragment_address
    grad = mapping.get_lp_grad_fragment(parameter._index_in_param_group)
    if grad is not None:
        grad = grad.detach().reshape(-1)
        if grad.numel() == parameter.numel() and grad.numel() != address.numel:
            grad = grad.narrow(0, address.start, address.numel)  # a full buffer held on every rank
    return Piece(grad, mapping.hp_fragment.detach().reshape(-1))


def _zero3_valid_entries(parameter: torch.nn.Parameter) -> int:
    """Entries of this rank's ZeRO-3 partition that belong to the parameter (the rest is padding)."""
    import torch.distributed as dist

    partition = parameter.ds_tensor.ds_numel
    rank = dist.get_rank(group=parameter.ds_process_group)
    return max(0, min(partition, parameter.ds_numel - rank * partition))
