"""Netviz capture for PyTorch: ``NetViz`` for plain loops, ``NetVizCallback`` for Lightning.

``import tb_netviz.torch`` imports torch but not Lightning; Lightning is imported
when ``NetVizCallback`` is first used, and a missing Lightning raises an
ImportError that says how to install it.

Example:
    >>> import tb_netviz.torch
    >>> tb_netviz.torch.NetViz.__name__
    'NetViz'
"""

from __future__ import annotations

from typing import Any

from tb_netviz.torch.capture import HISTOGRAM_TAG_PREFIX, histogram_tag
from tb_netviz.torch.netviz import NetViz
from tb_netviz.torch.probe import SampleBatchError

__all__ = ["HISTOGRAM_TAG_PREFIX", "NetViz", "NetVizCallback", "SampleBatchError", "histogram_tag"]


def __getattr__(name: str) -> Any:
    if name != "NetVizCallback":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from tb_netviz.torch.lightning_callback import NetVizCallback
    except ImportError as error:
        if getattr(error, "name", None) not in ("lightning", "lightning.pytorch") and "lightning" not in str(
            error
        ):
            raise
        raise ImportError(
            "tb_netviz.torch.NetVizCallback needs Lightning, which is not installed: "
            "install it with `pip install 'tb-netviz[lightning]'` (or `pip install lightning`)"
        ) from error
    return NetVizCallback
