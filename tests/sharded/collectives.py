"""Counting the collectives that tb_netviz's own code issues, in a rank of a multi-process test.

``CollectiveCounter`` wraps torch.distributed's public collectives. A call is counted when the
first frame outside ``torch.distributed`` that issued it is tb_netviz code: the engines' own
collectives (FSDP's all-gathers in the sample pass, DeepSpeed's reductions, Lightning's barriers)
are issued from their modules and are not counted.
"""

from __future__ import annotations

import sys

import torch.distributed as dist

COLLECTIVES = (
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "broadcast",
    "gather",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "all_gather_object",
    "barrier",
    "all_to_all",
)


class CollectiveCounter:
    """Counts tb_netviz's calls of torch.distributed's collectives while ``active``.

    ``take()`` returns the count since the last ``take()`` and starts again from 0.
    """

    def __init__(self, active: bool = False) -> None:
        self.count = 0
        self.active = active
        for name in COLLECTIVES:
            setattr(dist, name, self._wrap(getattr(dist, name)))

    def take(self) -> int:
        count, self.count = self.count, 0
        return count

    def _wrap(self, original):
        def counted(*args, **kwargs):
            if self.active and _issued_by_tb_netviz(sys._getframe(1)):
                self.count += 1
            return original(*args, **kwargs)

        return counted


def _issued_by_tb_netviz(frame) -> bool:
    while frame is not None and frame.f_globals.get("__name__", "").startswith("torch.distributed"):
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__", "").startswith("tb_netviz")
