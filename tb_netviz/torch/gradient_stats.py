"""Per-layer gradient statistics in a few fused device operations and one host transfer.

Each gradient is read from memory once: |g| is written straight into a small
reused workspace (a large tensor chunk by chunk, equal-sized tensors as rows
side by side, so hundreds of layers cost a few operations), and the sum of
squares, the sum and the max of each row are then read from cache. Small
tensors are concatenated and reduced entry by entry; gradients of layers not
shown, and every weight (for ``param_l2``), get one ``torch._foreach_norm``.
``_foreach_norm`` with ``ord=1`` or ``ord=inf`` is several times slower on
CPU, and a fresh temporary per tensor costs page faults at every step. The
per-tensor or per-entry results are summed (or maxed) into their layers with
``index_add_`` / ``scatter_reduce_``, on the model's device. The four per-layer
sums reach the host in one ``.cpu()`` of one small tensor; everything after
that (square roots, means, ratios, the "no gradient" rows) is numpy.

Sums are accumulated in float32 (float64 reductions cost about four times as
much on CPU). Non-finite entries are counted without a pass of their own: a
layer's sums are finite when all its entries are finite, unless a huge but
finite gradient overflowed them. So only for layers whose sums are not finite
does a second, small pass and transfer run, in float64: it counts the
non-finite entries and replaces the layer's sums by exact float64 ones, so a
finite gradient of norm 1e22 is reported as such, with a count of 0.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from tb_netviz.torch.layers import discover_layers
    >>> model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    >>> model(torch.ones(2, 3)).sum().backward()
    >>> stats = GradientStatistics(discover_layers(model))
    >>> table = stats.finish(stats.measure())
    >>> table.values.shape, bool(table.global_norm > 0)
    ((2, 7), True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from tb_netviz.summary.columns import GRADIENT_STATS, describe_missing_gradient
from tb_netviz.torch.layers import Layer

_COL = {name: index for index, name in enumerate(GRADIENT_STATS)}
_SUM_SQ, _SUM_ABS, _MAX_ABS, _PARAM_SQ = range(4)
# Entries from which a gradient tensor goes through the workspace; smaller ones are
# concatenated and reduced into their layers entry by entry.
_LARGE_TENSOR = 1 << 12
# |g| of a large tensor is formed chunk by chunk in a reused workspace: a fresh
# temporary the size of the tensor costs page faults at every step.
_CHUNK = 1 << 20


@dataclasses.dataclass
class GradientTable:
    """One step's statistics on the host: ``values`` is ``[selected layers, GRADIENT_STATS]``.

    ``global_norm`` is None when no parameter holds a gradient.
    """

    values: np.ndarray
    global_norm: float | None
    clipped_norm: float | None = None


@dataclasses.dataclass
class MeasuredGradients:
    """Statistics still on the device, waiting for ``GradientStatistics.finish``."""

    sums: torch.Tensor
    present: list[int]
    extra: torch.Tensor | None = None


class GradientStatistics:
    """Computes GRADIENT_STATS rows for ``layers`` from the gradients the parameters hold now.

    Args:
        layers: all layers of the model, in row order (the global norm covers all of them).
        selected: indices into ``layers`` of the rows to report (default all); L1 and
            max statistics and parameter norms are computed for these only.
    """

    def __init__(self, layers: Sequence[Layer], selected: Sequence[int] | None = None) -> None:
        self.layers = list(layers)
        self.selected = list(range(len(self.layers)) if selected is None else selected)
        self._params = [p for layer in self.layers for p in layer.parameters]
        self._layer_of = np.array([i for i, layer in enumerate(self.layers) for _ in layer.parameters])
        self._numel = np.array([p.numel() for p in self._params], dtype=np.float64)
        chosen = np.zeros(len(self.layers), bool)
        chosen[self.selected] = True
        self._param_selected = chosen[self._layer_of]
        self._selected_param_indices = np.flatnonzero(self._param_selected).tolist()
        self._index_cache: dict[tuple, torch.Tensor] = {}
        self._workspaces: dict[tuple, torch.Tensor] = {}

    @torch.no_grad()
    def measure(self) -> MeasuredGradients:
        """Start the statistics of the current gradients on their device (no host sync)."""
        present = [i for i, p in enumerate(self._params) if p.grad is not None]
        gradients = _by_device(self._params, present)
        weights = _by_device(self._params, self._selected_param_indices)
        devices = list(dict.fromkeys([*gradients, *weights]))
        home = devices[0] if devices else torch.device("cpu")
        sums = self._zero_sums(home)
        for device in devices:
            part = sums if device == home else self._zero_sums(device)
            if device in gradients:
                self._gradient_sums(device, gradients[device], part)
            if device in weights:
                self._weight_sums(device, weights[device], part)
            if part is not sums:
                part = part.to(home)
                sums[_MAX_ABS] = torch.maximum(sums[_MAX_ABS], part[_MAX_ABS])
                sums[[_SUM_SQ, _SUM_ABS, _PARAM_SQ]] += part[[_SUM_SQ, _SUM_ABS, _PARAM_SQ]]
        return MeasuredGradients(sums, present)

    @torch.no_grad()
    def global_norm(self) -> torch.Tensor:
        """The L2 norm of all gradients now held, as a device scalar (e.g. after clipping)."""
        grads = [_dense(p.grad) for p in self._params if p.grad is not None]
        if not grads:
            return torch.tensor(math.nan)
        home = grads[0].device
        norms = [n.to(home) for n in _l2_norms(grads)]
        return torch.linalg.vector_norm(torch.stack(norms))

    def finish(self, measured: MeasuredGradients) -> GradientTable:
        """Bring the sums to the host (one transfer) and build the table."""
        packed = measured.sums.reshape(-1)
        if measured.extra is not None:
            packed = torch.cat([packed, measured.extra.reshape(-1).to(packed.device, torch.float32)])
        host = packed.cpu().numpy().astype(np.float64)
        sums = host[: 4 * len(self.layers)].reshape(4, len(self.layers))
        extra = host[4 * len(self.layers) :]
        clipped = float(extra[0]) if extra.size else None
        if clipped is not None and not math.isfinite(clipped):
            clipped = self._exact_global_norm()
        return self._table(sums, measured.present, clipped)

    @torch.no_grad()
    def _exact_global_norm(self) -> float:
        """``global_norm`` in float64, for when its float32 sums overflowed (finite gradients with
        a norm above ~1.8e19) or some gradient is not finite: a second transfer, in such steps only."""
        norms = [
            torch.linalg.vector_norm(_dense(p.grad), 2, dtype=torch.float64).cpu()
            for p in self._params
            if p.grad is not None
        ]
        return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else math.nan

    def _zero_sums(self, device: torch.device) -> torch.Tensor:
        return torch.zeros(4, len(self.layers), dtype=torch.float32, device=device)

    def _gradient_sums(self, device: torch.device, indices: list[int], sums: torch.Tensor) -> None:
        grads = [_dense(self._params[i].grad) for i in indices]
        large, small, others = [], [], []
        for i, grad in zip(indices, grads, strict=True):
            if not self._param_selected[i] or grad.numel() == 0:
                others.append((i, grad))
            elif grad.numel() >= _LARGE_TENSOR or self._params[i].grad.is_sparse:
                large.append((i, grad))  # a sparse gradient's values: sized unlike its parameter
            else:
                small.append((i, grad))
        if others:
            norms = torch.stack(_l2_norms([g for _, g in others]))
            sums[_SUM_SQ].index_add_(0, self._layer_index(device, [i for i, _ in others]), norms.square())
        if large:
            self._large_sums(device, large, sums)
        if small:
            magnitudes = torch.cat([g.reshape(-1) for _, g in small]).abs().float()
            element_index = self._element_index(device, [i for i, _ in small])
            sums[_SUM_SQ].index_add_(0, element_index, magnitudes.square())
            sums[_SUM_ABS].index_add_(0, element_index, magnitudes)
            sums[_MAX_ABS].scatter_reduce_(0, element_index, magnitudes, "amax")

    def _large_sums(self, device: torch.device, large: list, sums: torch.Tensor) -> None:
        """Per row of the workspace (a chunk, or one of several equal-sized tensors): the sum of
        squares, the sum and the max of |g|; the rows are read from cache after one copy."""
        sum_sq, sum_abs, max_abs, owners = [], [], [], []
        for owners_of_rows, rows in self._workspace_batches(device, large):
            wide = _reduction_dtype(rows)
            sum_sq.append(torch.linalg.vector_norm(rows, 2, dim=1, dtype=wide).square().float())
            sum_abs.append(rows.sum(dim=1, dtype=wide).float())
            max_abs.append(rows.amax(dim=1))
            owners += owners_of_rows
        index = self._layer_index(device, owners)
        sums[_SUM_SQ].index_add_(0, index, torch.cat(sum_sq))
        sums[_SUM_ABS].index_add_(0, index, torch.cat(sum_abs))
        sums[_MAX_ABS].scatter_reduce_(0, index, torch.cat(max_abs).float(), "amax")

    def _workspace_batches(
        self, device: torch.device, large: list
    ) -> Iterator[tuple[list[int], torch.Tensor]]:
        """|x| of the tensors, written into the workspace as ``[rows, n]``: a tensor larger than
        the workspace one chunk at a time, smaller ones of one size and dtype as rows side by side."""
        same_size: dict[tuple, list] = {}
        for i, grad in large:
            flat = grad.reshape(-1)
            if flat.numel() >= _CHUNK:
                workspace = self._workspace(device, grad.dtype)
                for start in range(0, flat.numel(), _CHUNK):
                    part = flat[start : start + _CHUNK]
                    rows = torch.abs(part, out=workspace[: part.numel()])
                    yield [i], rows.view(1, -1)
            else:
                same_size.setdefault((flat.numel(), grad.dtype), []).append((i, flat))
        for (size, dtype), members in same_size.items():
            per_batch = _CHUNK // size
            workspace = self._workspace(device, dtype)
            for start in range(0, len(members), per_batch):
                batch = members[start : start + per_batch]
                rows = workspace[: len(batch) * size].view(len(batch), size)
                for row, (_, flat) in zip(rows, batch, strict=True):
                    torch.abs(flat, out=row)  # one pass: no stacked copy made absolute afterwards
                yield [i for i, _ in batch], rows

    def _workspace(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (str(device), dtype)
        if key not in self._workspaces:
            self._workspaces[key] = torch.empty(_CHUNK, dtype=dtype, device=device)
        return self._workspaces[key]

    def _weight_sums(self, device: torch.device, indices: list[int], sums: torch.Tensor) -> None:
        norms = torch.stack(_l2_norms([self._params[i] for i in indices]))
        sums[_PARAM_SQ].index_add_(0, self._layer_index(device, indices), norms.square())

    def _layer_index(self, device: torch.device, indices: list[int]) -> torch.Tensor:
        """The layer of each of the parameters ``indices``, as a device tensor (cached)."""
        return self._cached(("tensor", str(device), tuple(indices)), lambda: self._layer_of[indices], device)

    def _element_index(self, device: torch.device, indices: list[int]) -> torch.Tensor:
        """The layer of each entry of the parameters ``indices`` flattened one after another."""
        key = ("element", str(device), tuple(indices))
        return self._cached(
            key, lambda: np.repeat(self._layer_of[indices], self._numel[indices].astype(int)), device
        )

    def _cached(self, key: tuple, build: Callable[[], np.ndarray], device: torch.device) -> torch.Tensor:
        cached = self._index_cache.get(key)
        if cached is None:
            if len(self._index_cache) > 16:
                self._index_cache.clear()
            cached = torch.as_tensor(build(), dtype=torch.long).to(device)
            self._index_cache[key] = cached
        return cached

    def _table(self, sums: np.ndarray, present: list[int], clipped: float | None) -> GradientTable:
        layer_count = len(self.layers)
        has_grad = np.zeros(layer_count, bool)
        has_grad[self._layer_of[present]] = True
        entries = np.bincount(self._layer_of[present], self._numel[present], minlength=layer_count)
        selected = np.zeros(layer_count, bool)
        selected[self.selected] = True
        suspicious = has_grad & ~np.isfinite(sums[[_SUM_SQ, _SUM_ABS, _MAX_ABS]]).all(axis=0)
        suspicious |= selected & ~np.isfinite(sums[_PARAM_SQ])
        nonfinite = self._refine(np.flatnonzero(suspicious), present, sums)
        with np.errstate(all="ignore"):
            grad_l2 = np.sqrt(sums[_SUM_SQ])
            param_l2 = np.sqrt(sums[_PARAM_SQ])
            mean_abs = np.where(entries > 0, sums[_SUM_ABS] / np.maximum(entries, 1), math.nan)
            ratio = grad_l2 / param_l2
        rows = np.empty((len(self.selected), len(GRADIENT_STATS)), np.float64)
        for row, layer in enumerate(self.selected):
            if not has_grad[layer]:
                rows[row] = describe_missing_gradient()
                rows[row, _COL["param_l2"]] = param_l2[layer]
                continue
            rows[row, _COL["grad_l2"]] = grad_l2[layer]
            rows[row, _COL["grad_mean_abs"]] = mean_abs[layer]
            rows[row, _COL["grad_max_abs"]] = sums[_MAX_ABS, layer]
            rows[row, _COL["param_l2"]] = param_l2[layer]
            rows[row, _COL["grad_to_param"]] = ratio[layer]
            rows[row, _COL["grad_nonfinite"]] = nonfinite.get(int(layer), 0)
            rows[row, _COL["has_grad"]] = 1.0
        global_norm = float(np.sqrt(sums[_SUM_SQ][has_grad].sum())) if has_grad.any() else None
        return GradientTable(rows, global_norm, clipped)

    @torch.no_grad()
    def _refine(self, layers: np.ndarray, present: list[int], sums: np.ndarray) -> dict[int, int]:
        """Recompute, in float64, the sums of ``layers`` whose float32 sums were not finite, in place.

        A float32 sum of squares overflows once a norm passes ~1.8e19, and float64
        entries beyond ~3.4e38 do not fit float32 at all; such finite gradients must
        not look infinite. The same small pass counts the non-finite entries (its
        only other trigger), in a second transfer that happens in such steps alone.
        Returns the non-finite count of each of ``layers``.
        """
        if layers.size == 0:
            return {}
        has_grad = set(present)
        owners, values = [], []
        for i in np.flatnonzero(np.isin(self._layer_of, layers)).tolist():
            parameter = self._params[i]
            parameter_norm = torch.linalg.vector_norm(parameter, 2, dtype=torch.float64)
            if i in has_grad:
                grad = _dense(parameter.grad)
                magnitude_max = grad.abs().amax().double() if grad.numel() else parameter_norm.new_zeros(())
                grad_values = [
                    torch.linalg.vector_norm(grad, 2, dtype=torch.float64).square(),
                    torch.linalg.vector_norm(grad, 1, dtype=torch.float64),
                    magnitude_max,
                    parameter_norm.square(),
                    torch.isfinite(grad).logical_not().sum().double(),
                ]
            else:
                zero = parameter_norm.new_zeros(())
                grad_values = [zero, zero, zero, parameter_norm.square(), zero]
            home = values[0].device if values else parameter_norm.device
            values.append(torch.stack([v.to(home) for v in grad_values]))
            owners.append(int(self._layer_of[i]))
        host = torch.stack(values).cpu().numpy()
        owner_index = np.array(owners)
        refined = np.zeros((5, len(self.layers)))
        with np.errstate(all="ignore"):
            for column in (_SUM_SQ, _SUM_ABS, _PARAM_SQ, 4):
                np.add.at(refined[column], owner_index, host[:, column])
            np.maximum.at(refined[_MAX_ABS], owner_index, host[:, _MAX_ABS])
        sums[:, layers] = refined[:4, layers]
        return {int(layer): int(refined[4, layer]) for layer in layers}


def _by_device(params: Sequence[torch.Tensor], indices: Sequence[int]) -> dict[torch.device, list[int]]:
    groups: dict[torch.device, list[int]] = {}
    for i in indices:
        groups.setdefault(params[i].device, []).append(i)
    return groups


def _l2_norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The float32 L2 norm of each tensor; float64 tensors are reduced in float64 first."""
    if all(t.dtype != torch.float64 for t in tensors):
        return list(torch._foreach_norm(tensors, 2, dtype=torch.float32))
    return [torch.linalg.vector_norm(t, 2, dtype=_reduction_dtype(t)).float() for t in tensors]


def _reduction_dtype(rows: torch.Tensor) -> torch.dtype:
    """float32 for float32 and narrower tensors; float64 ones are not narrowed before reducing."""
    return torch.float64 if rows.dtype == torch.float64 else torch.float32


def _dense(grad: torch.Tensor) -> torch.Tensor:
    """The gradient's values (a sparse gradient's stored ones); callers run under ``no_grad``."""
    if grad.is_sparse:
        return grad.coalesce().values()
    return grad
