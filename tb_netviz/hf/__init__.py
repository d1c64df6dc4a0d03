"""Netviz capture for the Hugging Face ``transformers.Trainer``: ``NetVizCallback``.

``import tb_netviz.hf`` imports neither torch nor transformers; they are imported
when ``NetVizCallback`` is first used, and a missing ``transformers`` raises an
ImportError that says how to install it.

Example:
    >>> import tb_netviz.hf
    >>> tb_netviz.hf.__all__
    ['NetVizCallback']
"""

from __future__ import annotations

from typing import Any

__all__ = ["NetVizCallback"]


def __getattr__(name: str) -> Any:
    if name != "NetVizCallback":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from tb_netviz.hf.callback import NetVizCallback
    except ImportError as error:
        if getattr(error, "name", None) != "transformers" and "transformers" not in str(error):
            raise
        raise ImportError(
            "tb_netviz.hf.NetVizCallback needs Hugging Face transformers, which is not installed: "
            "install it with `pip install 'tb-netviz[hf]'` (or `pip install transformers accelerate`)"
        ) from error
    return NetVizCallback
