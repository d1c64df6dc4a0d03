"""Which modules are layers, what they are called, and in which order they appear.

A layer is a module that owns parameters directly (``module.parameters(recurse=False)``
is not empty); its name is its qualified name from ``model.named_modules()``.
Rows are in forward order: the order in which the layers are first entered
during one forward pass on the sample batch (see ``probe.forward_order``).
A layer the sample pass never enters (``out_proj`` of ``nn.MultiheadAttention``,
whose weight the attention function reads directly, or an unused branch) is
placed right after its nearest ancestor that was entered; without a sample
batch the order is the registration order of ``named_modules()``.

Example:
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> [layer.name for layer in discover_layers(model)]
    ['0', '2']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from torch import nn

try:
    from torch.distributed.fsdp import FSDPModule as _FSDPModule
except ImportError:  # pragma: no cover - a torch without distributed support
    _FSDPModule = None

# Module names that wrappers insert between a module and its children (FSDP1, checkpointing).
_WRAPPER_PARTS = ("_fsdp_wrapped_module", "_checkpoint_wrapped_module")

# Modules whose output is [N, C, ...] with units along dim 1 (channels).
_CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm)


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer: its qualified name, the module and the parameters it owns directly."""

    name: str
    module: nn.Module
    parameters: tuple[nn.Parameter, ...]

    @property
    def is_conv(self) -> bool:
        """Whether the layer is a Conv1d/2d/3d (or transposed) layer, which has feature maps."""
        return isinstance(self.module, nn.modules.conv._ConvNd)

    @property
    def units_dim(self) -> int:
        """The dimension of its output that holds units: 1 for channel-first layers, else -1."""
        return 1 if isinstance(self.module, _CHANNEL_FIRST) else -1


def discover_layers(model: nn.Module) -> list[Layer]:
    """The layers of ``model`` in registration order.

    A parameter shared by two modules belongs to the first one that owns it,
    so that every parameter is counted once.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: the model has no parameters.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    layers = []
    for name, module in model.named_modules():
        own = []
        for parameter in module.parameters(recurse=False):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                own.append(parameter)
        if own:
            layers.append(Layer(layer_name(name) or root_name(model), module, tuple(own)))
    if not layers:
        raise ValueError(
            f"the model ({type(model).__name__}) has no parameters: there is no gradient to show"
        )
    return layers


def root_name(model: nn.Module) -> str:
    """The layer name of the model itself (``named_modules()`` calls it ``""``): its class name.

    FSDP2's ``fully_shard`` swaps the class for a subclass named ``FSDP<Name>``, and
    FSDP1 wraps the model in ``FullyShardedDataParallel``; the name is the user's
    class either way, so a sharded and an unsharded run have the same rows.

    >>> root_name(nn.Linear(1, 1))
    'Linear'
    """
    while type(model).__name__ == "FullyShardedDataParallel" and hasattr(model, _WRAPPER_PARTS[0]):
        model = getattr(model, _WRAPPER_PARTS[0])
    cls = type(model)
    if _FSDPModule is not None and _FSDPModule in cls.__bases__:
        cls = next(base for base in cls.__bases__ if base is not _FSDPModule)
    return cls.__name__


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    """Every module of ``model`` -> its qualified name (the model itself -> ``root_name``)."""
    names: dict[nn.Module, str] = {}
    for name, module in model.named_modules():
        names.setdefault(module, layer_name(name) or root_name(model))
    return names


def layer_name(qualified_name: str) -> str:
    """A module's qualified name without the parts wrappers insert (FSDP1, activation checkpointing).

    >>> layer_name("_fsdp_wrapped_module.encoder._fsdp_wrapped_module._checkpoint_wrapped_module.0")
    'encoder.0'
    """
    return ".".join(part for part in qualified_name.split(".") if part not in _WRAPPER_PARTS)


def order_layers(layers: Sequence[Layer], model: nn.Module, entered: Sequence[nn.Module]) -> list[Layer]:
    """``layers`` sorted by the first time each (or its nearest entered ancestor) was entered.

    ``entered`` lists modules in the order a forward pass first entered them.
    """
    first_entry = {id(module): index for index, module in enumerate(entered)}
    positions: dict[str, int] = {}
    by_module: dict[int, tuple[int, int]] = {}
    for index, (name, module) in enumerate(model.named_modules()):
        position = first_entry.get(id(module))
        if position is None:
            position = _ancestor_position(name, positions)
        positions[name] = position
        by_module.setdefault(id(module), (position, index))

    def key(layer: Layer) -> tuple[int, int]:
        return by_module.get(id(layer.module), (len(entered), 0))

    return sorted(layers, key=key)


def _ancestor_position(name: str, positions: dict[str, int]) -> int:
    parts = name.split(".")
    for end in range(len(parts) - 1, -1, -1):
        parent = ".".join(parts[:end])
        if parent in positions:
            return positions[parent]
    return 1 << 30
