"""Server-side step downsampling that never hides the steps a user must see.

A response holds at most ``max_steps`` steps, evenly spaced over the steps
available, and always the first step, the last step and every step where an
alert fired. When those required steps alone outnumber ``max_steps``, all of
them are still returned: an alert must never disappear from the heatmap.

Example:
    >>> import numpy as np
    >>> steps = np.arange(0, 100, 10)
    >>> steps[pick_step_indices(steps, max_steps=4, required_steps=[30])].tolist()
    [0, 30, 40, 90]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def pick_step_indices(steps: np.ndarray, max_steps: int, required_steps: Iterable[int] = ()) -> np.ndarray:
    """Sorted indices into ``steps`` (ascending step numbers) to return.

    Args:
        steps: the available steps, ascending.
        max_steps: the cap, >= 1.
        required_steps: steps to keep whatever the cap (alert steps); those not
            in ``steps`` are ignored.

    >>> pick_step_indices(np.array([5, 6, 7]), max_steps=10).tolist()
    [0, 1, 2]
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    count = len(steps)
    if count <= max_steps:
        return np.arange(count)
    required = {0, count - 1}
    wanted = np.fromiter(required_steps, dtype=np.int64)
    if wanted.size:
        positions = np.searchsorted(steps, wanted)
        inside = positions < count
        positions, wanted = positions[inside], wanted[inside]
        required.update(positions[steps[positions] == wanted].tolist())
    spaced_count = max(0, max_steps - len(required))
    spaced = np.linspace(0, count - 1, num=spaced_count + 2).round().astype(np.int64)
    return np.union1d(np.fromiter(required, dtype=np.int64), spaced)
