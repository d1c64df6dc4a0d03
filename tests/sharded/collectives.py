"""Counting the torch.distributed collectives that tb_netviz itself calls, in a multi-process run.

``CollectiveCounter`` wraps the public collective functions of ``torch.distributed`` and counts a
call only when the function calling it is tb_netviz code, so that the collectives of the engine
(DDP's all-reduce, FSDP's all-gathers in the sample pass, DeepSpeed's reductions) are not counted
and the counter may stay on for a whole training step. The runs read ``take()`` once a step.
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
    "broadcast_object_list",
    "gather_object",
    "scatter",
    "barrier",
    "all_to_all",
    "all_to_all_single",
)


class CollectiveCounter:
    """Counts the calls of torch.distributed's collectives made directly by tb_netviz code.

    Installed when created, until ``close()``.

    Example, in each rank of a sharded run::

        counter = CollectiveCounter()
        for step in ...:
            ...  # the training step, with viz.log_gradients(step)
            per_step.append(counter.take())  # 1 at a logged step
        counter.close()
    """

    def __init__(self) -> None:
        self.count = 0
        self._originals = {name: getattr(dist, name) for name in COLLECTIVES if hasattr(dist, name)}
        for name, original in self._originals.items():
            setattr(dist, name, self._wrap(original))

    def take(self) -> int:
        """The calls counted since the last ``take`` (or since the counter was installed)."""
        count, self.count = self.count, 0
        return count

    def close(self) -> None:
        """Put torch.distributed's own functions back."""
        for name, original in self._originals.items():
            setattr(dist, name, original)

    def _wrap(self, original):
        def counted(*args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller == "tb_netviz" or caller.startswith("tb_netviz."):
                self.count += 1
            return original(*args, **kwargs)

        return counted
