"""The embedding projection: PCA of one layer's output on the probe batch, kept steady over steps.

``EmbeddingProjection.project`` centres the ``[N, D]`` features, takes the first
three principal components from an SVD and returns each sample's coordinates
and each component's explained-variance ratio. From the second call on, the
components are matched to the previous call's (the permutation of the three
that best correlates the samples' new coordinates with their old ones, then the
sign of each correlation), so the cloud does not flip or swap axes between
steps; the matched order is the written order, so ``pc1`` need not be the
largest component at a later step (the explained-variance ratios say which is).

Example:
    >>> import numpy as np
    >>> features = np.random.default_rng(0).normal(size=(10, 6))
    >>> projection = EmbeddingProjection()
    >>> coords, ratio = projection.project(features)
    >>> coords.shape, ratio.shape, bool(ratio[0] >= ratio[1] >= ratio[2])
    ((10, 3), (3,), True)
    >>> flipped, _ = projection.project(-features)  # the same cloud, mirrored: drawn unflipped
    >>> bool(np.allclose(flipped, coords, atol=1e-5))
    True
"""

from __future__ import annotations

import itertools

import numpy as np

COMPONENTS = 3
EMBEDDING_COLUMNS = ("pc1", "pc2", "pc3", "label")


class EmbeddingProjection:
    """PCA to 3 components with component order and signs aligned from one call to the next."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None

    def project(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``[N, 3]`` and explained-variance ratios ``[3]`` (float64) of ``features``.

        Components beyond the data's rank (fewer than 4 samples, or fewer than 3
        features) are zero, with ratio 0.

        Raises:
            ValueError: fewer than 2 samples (PCA is undefined), or features that are
                not ``[N, D]`` or hold NaN or Inf.
        """
        coords, ratio = principal_components(features)
        if self._previous is not None and self._previous.shape == coords.shape:
            order, signs = _alignment(self._previous, coords)
            coords, ratio = coords[:, list(order)] * signs, ratio[list(order)]
        self._previous = coords
        return coords, ratio


def principal_components(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first 3 PCA coordinates and explained-variance ratios, largest first, no alignment.

    >>> coords, ratio = principal_components(np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))
    >>> coords[:, 0].round(6).tolist(), ratio.round(6).tolist()
    ([-2.0, 0.0, 2.0], [1.0, 0.0, 0.0])
    """
    values = check_features(features)
    centred = values - values.mean(axis=0)
    left, singular, _ = np.linalg.svd(centred, full_matrices=False)
    kept = min(COMPONENTS, singular.size)
    coords = np.zeros((values.shape[0], COMPONENTS))
    coords[:, :kept] = left[:, :kept] * singular[:kept]
    total = float(np.sum(singular**2))
    ratio = np.zeros(COMPONENTS)
    if total > 0:
        ratio[:kept] = singular[:kept] ** 2 / total
    # A deterministic sign: the largest-magnitude coordinate of each component is positive.
    for column in range(kept):
        if coords[np.argmax(np.abs(coords[:, column])), column] < 0:
            coords[:, column] *= -1
    return coords, ratio


def check_features(features: np.ndarray) -> np.ndarray:
    """``features`` as float64 ``[N, D]`` with N >= 2, or a ValueError saying what is wrong.

    >>> check_features(np.ones((1, 4)))
    Traceback (most recent call last):
    ...
    ValueError: an embedding needs at least 2 samples in the probe batch (PCA is undefined for 1); got 1
    """
    values = np.asarray(features, np.float64)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"embedding features must be [samples, features], got shape {values.shape}")
    if values.shape[0] < 2:
        raise ValueError(
            "an embedding needs at least 2 samples in the probe batch (PCA is undefined for 1); "
            f"got {values.shape[0]}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("embedding features hold NaN or Inf; the layer's output is not finite")
    return values


def _alignment(previous: np.ndarray, current: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    """The permutation of ``current``'s columns and the signs that best match ``previous``."""
    similarity = previous.T @ current  # [old component, new component]
    norms = np.linalg.norm(previous, axis=0)[:, None] * np.linalg.norm(current, axis=0)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(norms > 0, similarity / np.where(norms > 0, norms, 1), 0.0)
    best = max(
        itertools.permutations(range(COMPONENTS)),
        key=lambda order: (sum(abs(correlation[i, order[i]]) for i in range(COMPONENTS)), order == (0, 1, 2)),
    )
    signs = np.array([-1.0 if correlation[i, best[i]] < 0 else 1.0 for i in range(COMPONENTS)])
    return best, signs


def embedding_rows(coords: np.ndarray, ratio: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The written ``[N + 1, 4]`` float32 tensor: a row per sample (pc1, pc2, pc3, label), then
    one row of the three explained-variance ratios and the sum of all three.

    >>> embedding_rows(np.zeros((2, 3)), np.array([0.5, 0.3, 0.1]), np.array([4, 7]))[:, 3].tolist()
    [4.0, 7.0, 0.8999999761581421]
    """
    rows = np.zeros((coords.shape[0] + 1, len(EMBEDDING_COLUMNS)), np.float32)
    rows[:-1, :COMPONENTS] = coords
    rows[:-1, COMPONENTS] = labels
    rows[-1, :COMPONENTS] = ratio
    rows[-1, COMPONENTS] = ratio.sum()
    return rows
