"""Warnings that point at the user's line, not at tb-netviz internals.

A fixed ``stacklevel`` is wrong as soon as one public call reaches the
warning through a different number of internal frames (``NetVizWriter.close``
-> ``EventWriter.close``, or a callback -> ``AlertDetector``), so the level is
found by walking out of the ``tb_netviz`` package.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_from_caller("careful", UserWarning)
    >>> caught[0].filename.endswith("tb_netviz/summary/user_warnings.py")
    False
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def warn_from_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first frame outside the tb_netviz package.

    On a thread that runs only tb_netviz code (the writer thread) the warning is
    attributed to the outermost frame of that thread.
    """
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
