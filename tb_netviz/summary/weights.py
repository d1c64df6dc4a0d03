"""Kernels and weight matrices as the netviz ``weights`` view: layouts, block pooling, budgets.

A layer's weights are brought to one of two framework-free layouts before they
are written:

- a convolution kernel becomes ``[out, in, kh, kw]`` tiles: a 1-D kernel is one
  row high (``kh == 1``), a 3-D kernel shows its middle depth slice, and at most
  ``max_channels`` output and input channels are kept (the first ones);
- a dense matrix becomes ``[out, in]`` (rows are output units), and one larger
  than ``MAX_MATRIX_SIDE`` on a side is block pooled: each block gives its
  *extreme* entry (the one of largest magnitude, sign kept) and its *mean*,
  so that neither a large weight nor the average is lost.

Example:
    >>> import numpy as np
    >>> view = kernel_view(np.ones((8, 3, 5, 5)), "oik", max_channels=4)
    >>> view.values.shape, view.content["out_channels"], view.content["shown"]
    ((4, 3, 5, 5), 8, [4, 3])
    >>> pooled = matrix_view(np.ones((1000, 300)), "oi")
    >>> pooled.values.shape, pooled.content["block"], pooled.content["pools"]
    ((2, 250, 150), [4, 2], ['extreme', 'mean'])
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

# The largest side of a matrix written as it is; a larger one is block pooled to at most this.
MAX_MATRIX_SIDE = 256
# Default bytes of weight tensors (w_t and w_t - w_0 of every chosen layer) per sample step.
DEFAULT_WEIGHT_BUDGET_BYTES = 3 << 19
KERNEL = "kernel"
MATRIX = "matrix"
# The two views stacked on the first axis of every weights tensor.
WEIGHT_VIEWS = ("weights", "change")
# Kernel axis orders: torch ``[out, in, *k]``, torch transposed ``[in, out, *k]``,
# Keras ``[*k, in, out]`` and Keras transposed ``[*k, out, in]``.
KERNEL_AXES = ("oik", "iok", "kio", "koi")
# Matrix axis orders: torch Linear ``[out, in]``, Keras Dense ``[in, out]``.
MATRIX_AXES = ("oi", "io")


@dataclasses.dataclass
class WeightView:
    """One layer's weights in the written layout: ``values`` float32 and its content fields.

    ``values`` is ``[O, I, kh, kw]`` for a kernel, ``[1, R, C]`` for a matrix
    written as it is and ``[2, R, C]`` (extreme, mean) for a pooled one; the
    written tensor stacks this view of ``w_t`` and of ``w_t - w_0``.
    """

    values: np.ndarray
    content: dict[str, Any]

    @property
    def nbytes(self) -> int:
        """Bytes this layer writes per sample step (both views, float32)."""
        return 2 * 4 * int(self.values.size)


def kernel_view(kernel: Any, axes: str, max_channels: int = 16) -> WeightView:
    """A convolution kernel as ``[out, in, kh, kw]`` tiles, channels capped at ``max_channels``.

    Raises:
        ValueError: an unknown ``axes``, or a kernel that is not 1-D, 2-D or 3-D.

    >>> view = kernel_view(np.arange(2 * 3 * 4).reshape(4, 2, 3), "kio")  # Keras Conv1D: [k, in, out]
    >>> view.values.shape, view.values[0, 0].tolist()
    ((3, 2, 1, 4), [[0.0, 6.0, 12.0, 18.0]])
    """
    if axes not in KERNEL_AXES:
        raise ValueError(f"kernel axes must be one of {KERNEL_AXES}, got {axes!r}")
    kernel = _float_array(kernel, "a convolution kernel")
    spatial = kernel.ndim - 2
    if spatial not in (1, 2, 3):
        raise ValueError(f"a convolution kernel must be 3-, 4- or 5-D, got shape {kernel.shape}")
    if axes == "iok":
        kernel = np.swapaxes(kernel, 0, 1)
    elif axes in ("kio", "koi"):
        kernel = np.moveaxis(kernel, (-1, -2) if axes == "kio" else (-2, -1), (0, 1))
    content: dict[str, Any] = {"layout": KERNEL, "dims": spatial, "kernel_size": list(kernel.shape[2:])}
    if spatial == 3:
        depth = kernel.shape[2] // 2
        content["depth_slice"] = depth
        kernel = kernel[:, :, depth]
    elif spatial == 1:
        kernel = kernel[:, :, None, :]
    out_channels, in_channels = kernel.shape[:2]
    tiles = kernel[:max_channels, :max_channels]
    content.update(out_channels=out_channels, in_channels=in_channels, shown=list(tiles.shape[:2]))
    return WeightView(np.ascontiguousarray(tiles, np.float32), content)


def matrix_view(matrix: Any, axes: str, max_side: int = MAX_MATRIX_SIDE) -> WeightView:
    """A dense weight matrix as ``[out, in]``, block pooled when a side exceeds ``max_side``.

    Blocks are ``ceil(rows / max_side) x ceil(cols / max_side)``; blocks at the
    right and bottom edges may be smaller and are pooled over the entries they have.

    Raises:
        ValueError: an unknown ``axes`` or an array that is not 2-D.
    """
    if axes not in MATRIX_AXES:
        raise ValueError(f"matrix axes must be one of {MATRIX_AXES}, got {axes!r}")
    matrix = _float_array(matrix, "a weight matrix")
    if matrix.ndim != 2:
        raise ValueError(f"a weight matrix must be 2-D, got shape {matrix.shape}")
    if axes == "io":
        matrix = matrix.T
    rows, cols = matrix.shape
    content: dict[str, Any] = {"layout": MATRIX, "rows": rows, "cols": cols}
    if rows <= max_side and cols <= max_side:
        content.update(pools=["value"], block=[1, 1])
        return WeightView(np.ascontiguousarray(matrix[None], np.float32), content)
    block = (math.ceil(rows / max_side), math.ceil(cols / max_side))
    content.update(pools=["extreme", "mean"], block=list(block))
    return WeightView(block_pool(matrix, block), content)


def block_pool(matrix: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """``[2, R, C]`` float32: each block's extreme entry (largest ``|w|``, sign kept) and mean.

    >>> block_pool(np.array([[1.0, -3.0, 2.0], [0.0, 1.0, 4.0]]), (2, 2)).tolist()
    [[[-3.0, 4.0]], [[-0.25, 3.0]]]
    """
    rows, cols = matrix.shape
    out_rows, out_cols = math.ceil(rows / block[0]), math.ceil(cols / block[1])
    exact = rows == out_rows * block[0] and cols == out_cols * block[1]
    if exact:  # no partial edge blocks: no padding, plain reductions (the common case, and faster)
        padded = np.asarray(matrix, np.float32)
    else:
        padded = np.full((out_rows * block[0], out_cols * block[1]), np.nan, np.float32)
        padded[:rows, :cols] = matrix
    blocks = padded.reshape(out_rows, block[0], out_cols, block[1]).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(out_rows, out_cols, -1)
    magnitude = np.abs(blocks) if exact else np.where(np.isnan(blocks), -np.inf, np.abs(blocks))
    extreme = np.take_along_axis(blocks, magnitude.argmax(axis=2)[..., None], axis=2)[..., 0]
    with np.errstate(invalid="ignore"):
        mean = (
            blocks.mean(axis=2, dtype=np.float64) if exact else np.nanmean(blocks, axis=2, dtype=np.float64)
        )
    return np.stack([extreme.astype(np.float32), mean.astype(np.float32)])


def diverging_scale(values: np.ndarray) -> float:
    """The shared scale of one view: the largest finite ``|value|`` (1.0 when all are zero).

    >>> diverging_scale(np.array([-2.0, 0.5, np.nan]))
    2.0
    """
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def choose_within_budget(sizes: dict[str, int], budget_bytes: int) -> tuple[list[str], list[str]]:
    """The layers (in the given order) whose bytes fit in ``budget_bytes``, and those left out.

    >>> choose_within_budget({"conv": 100, "fc1": 900, "fc2": 50}, 200)
    (['conv', 'fc2'], ['fc1'])
    """
    kept, left_out, used = [], [], 0
    for name, size in sizes.items():
        if used + size <= budget_bytes:
            kept.append(name)
            used += size
        else:
            left_out.append(name)
    return kept, left_out


def _float_array(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(f"{what} must be a real numeric array, got dtype {array.dtype}")
    if 0 in array.shape:
        raise ValueError(f"{what} must not be empty, got shape {array.shape}")
    return array.astype(np.float32, copy=False)
