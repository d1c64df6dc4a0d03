"""Activation statistics of one layer's output on the probe batch, on the model's device.

Mean, population standard deviation (divided by n, not n - 1) and max |x| are
taken over the finite entries, so one NaN does not hide what the rest of the
layer does; they are NaN when no entry is finite. ``act_zero_frac`` is over all
entries and ``act_nonfinite`` counts the non-finite ones (see ``columns.py``).
``act_dead_frac`` is the fraction of units that are exactly zero for every
sample and position of the probe batch: units are channels (dim 1) for
convolution and normalisation layers with ``[N, C, ...]`` outputs, the last
dimension otherwise.

Example:
    >>> import torch
    >>> row = activation_row(torch.tensor([[0.0, 1.0], [0.0, 3.0]]), units_dim=-1)
    >>> [round(v, 3) for v in row.tolist()]
    [1.0, 1.225, 0.5, 0.5, 3.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import torch


def output_tensor(output: Any) -> torch.Tensor | None:
    """The tensor a layer produced: the output itself or the first tensor of a tuple/list."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def activation_row(output: torch.Tensor, units_dim: int = -1) -> torch.Tensor:
    """The ACTIVATION_STATS row of ``output`` as a float32 device tensor of 6 values."""
    x = output.detach()
    if not x.is_floating_point():
        x = x.float()
    x = x.float() if x.dtype != torch.float64 else x
    finite = torch.isfinite(x)
    count = finite.sum()
    zero_value = torch.zeros((), dtype=x.dtype, device=x.device)
    clean = torch.where(finite, x, zero_value)
    mean = clean.sum() / count  # 0 / 0 = NaN when no entry is finite
    variance = torch.where(finite, (x - mean).square(), zero_value).sum() / count
    std = torch.sqrt(variance)
    zero = x == 0
    zero_frac = zero.float().mean()
    dead_frac = _dead_fraction(zero, units_dim)
    # amax of the zeroed entries is 0 with no finite entry: the definition asks for NaN.
    max_abs = clean.abs().amax() if x.numel() else torch.zeros((), dtype=x.dtype, device=x.device)
    max_abs = torch.where(count > 0, max_abs, torch.full((), float("nan"), dtype=x.dtype, device=x.device))
    nonfinite = x.numel() - count
    return torch.stack([mean, std, zero_frac, dead_frac, max_abs, nonfinite.to(x.dtype)]).float()


def _dead_fraction(zero: torch.Tensor, units_dim: int) -> torch.Tensor:
    if zero.dim() == 0:
        return zero.float()
    if zero.dim() <= 1 or units_dim == -1 or zero.dim() <= units_dim:
        units = zero.reshape(-1, zero.shape[-1])
    else:
        units = zero.movedim(units_dim, -1).reshape(-1, zero.shape[units_dim])
    return units.all(dim=0).float().mean()
