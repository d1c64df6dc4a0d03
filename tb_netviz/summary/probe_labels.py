"""The ``sample_labels`` argument: the true classes of the probe batch, one meaning everywhere.

Every callback takes ``sample_labels`` next to ``sample_batch``. Grad-CAM can explain
the true class (``gradcam_target="label"``), the embedding view colours its points
by it, and both write it beside the sample so the dashboard can show it.

Example:
    >>> check_sample_labels([3, 1, 4], batch_size=3)
    array([3, 1, 4])
    >>> check_sample_labels(None, batch_size=3) is None
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_sample_labels(labels: Any, batch_size: int | None) -> np.ndarray | None:
    """``labels`` as a 1-D int64 array of one class index per probe sample, or None.

    Accepts a list, a numpy array, or a framework tensor that ``numpy.asarray``
    reads (call ``.cpu()`` first for a CUDA tensor). A ``[N, classes]`` one-hot
    array is read as its argmax. ``batch_size`` is the probe batch's sample count
    (None when it is not known, e.g. no ``sample_batch``).

    Raises:
        ValueError: labels without a ``sample_batch``, a count that differs from the
            probe batch, a negative label, or a shape that is not ``[N]``/``[N, classes]``.
        TypeError: labels that are not integers (``[0.5, 1.2]``).

    >>> check_sample_labels(np.eye(3)[[2, 0]], batch_size=2)
    array([2, 0])
    >>> check_sample_labels([1, 2], batch_size=3)
    Traceback (most recent call last):
    ...
    ValueError: sample_labels has 2 labels but sample_batch has 3 samples
    """
    if labels is None:
        return None
    if batch_size is None:
        raise ValueError("sample_labels needs a sample_batch (the labels are the probe batch's classes)")
    values = np.asarray(labels)
    if values.ndim == 2:
        values = values.argmax(axis=1)
    if values.ndim != 1:
        raise ValueError(
            f"sample_labels must be [N] class indices or [N, classes] one-hot, got shape {values.shape}"
        )
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not (np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values))):
            raise TypeError(f"sample_labels must be integer class indices, got {values.dtype} values")
    values = values.astype(np.int64)
    if len(values) != batch_size:
        raise ValueError(f"sample_labels has {len(values)} labels but sample_batch has {batch_size} samples")
    if values.size and values.min() < 0:
        raise ValueError(f"sample_labels must be >= 0, got {int(values.min())}")
    return values
