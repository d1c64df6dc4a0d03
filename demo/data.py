"""Data the demos train on: scikit-learn's bundled digits and a generated sequence task.

Example:
    >>> images, labels = digits()
    >>> images.shape, labels.shape
    ((1797, 8, 8), (1797,))
    >>> source, target = reversal_batch(2, length=5, vocab=10, seed=0)
    >>> bool((target == source[:, ::-1]).all())
    True
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits shipped with scikit-learn, scaled to [0, 1]."""
    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def reversal_batch(size: int, length: int, vocab: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random token sequences and the same sequences reversed (the target)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, vocab, size=(size, length))
    return source, source[:, ::-1].copy()
