"""Exact per-layer gradient statistics of sharded parameters: local partial sums, one collective.

Every rank reduces the pieces it holds (see ``tb_netviz.torch.shards``) to
float64 partials per layer: the sum of squares, the sum of |g|, the max |g|,
the parameter's sum of squares, the entry count, the non-finite count and
whether a gradient is present. The ``[layers x partials]`` tensors of all ranks,
with a failure marker and the clipped norm's partial sum, meet in **one**
``all_gather``; sums are then summed and maxima maxed on the host, so the
table equals the one of the same model trained unsharded. An empty piece
(a 1-element parameter on 2 ranks) adds 0 to the sums and nothing to the max.

Every piece is reduced in float64: it is copied chunk by chunk into a reused
float64 workspace and its sum of squares (and, for the rows shown, the sum and
max of |g|) are read from cache; the results are accumulated in float64 over
chunks, tensors, layers and ranks. A finite float32 gradient cannot overflow
them (a norm of 1e22 stays 1e22), so non-finite entries are counted only where
a sum is not finite: no pass of their own in a finite step.

With ``histograms``, the weights and gradients of the layers shown also get exact
histograms of the whole tensors: each rank keeps its entries (a float32 host
copy) at ``measure``, and their per-layer finite min and max travel in the same
``all_gather``, so every rank knows the global range and hence the bucket edges
after ``finish``; ``histograms`` then counts each rank's entries into those
buckets and a **second** ``all_gather`` sums the counts: two collectives on the
steps that write histograms (every logged step then), one otherwise.

Every rank must call ``measure`` and ``finish`` (and ``histograms``) at the same
steps, in the same order (the callers decide from the optimizer step count). A
rank whose own part fails does not skip the collective: it sends a marker, and
every rank then raises ``ShardedStatisticsError`` for that step, which the
capture turns into one warning while training goes on.

Example (one process, no process group: the local partials are the whole table):
    >>> import torch
    >>> from torch import nn
    >>> from tb_netviz.torch.layers import discover_layers
    >>> from tb_netviz.torch.shards import flat_piece
    >>> model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    >>> model(torch.ones(2, 3)).sum().backward()
    >>> stats = ShardedGradientStatistics(discover_layers(model), read_piece=flat_piece)
    >>> table = stats.finish(stats.measure())
    >>> table.values.shape, bool(table.global_norm > 0)
    ((2, 7), True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist

from tb_netviz.summary.columns import GRADIENT_STATS, describe_missing_gradient
from tb_netviz.summary.encoders import HISTOGRAM_BINS, histogram_buckets, histogram_counts, histogram_range
from tb_netviz.torch.gradient_stats import GradientTable
from tb_netviz.torch.layers import Layer
from tb_netviz.torch.shards import PieceReader

_COL = {name: index for index, name in enumerate(GRADIENT_STATS)}
# Partials per layer, in this order; the first group is summed over ranks, the second maxed.
PARTIALS = ("sum_sq", "sum_abs", "param_sq", "count", "nonfinite", "max_abs", "has_grad")
_SUM_SQ, _SUM_ABS, _PARAM_SQ, _COUNT, _NONFINITE, _MAX_ABS, _HAS_GRAD = range(len(PARTIALS))
_SUMMED = slice(_SUM_SQ, _NONFINITE + 1)
# Per layer shown, with histograms: -min and max of the finite weights, then of the finite
# gradients (all maxed over the ranks; -inf where a rank holds no finite entry).
_RANGES = 4
_KINDS = ("weights", "gradients")
# |g| of a tensor piece is formed in a reused float64 workspace of this many entries, chunk by
# chunk (2 MB: the chunk's three reductions read it from cache).
_CHUNK = 1 << 18


class ShardedStatisticsError(RuntimeError):
    """A rank could not compute its partial statistics at a step: the step's table is dropped."""


@dataclasses.dataclass
class MeasuredShards:
    """This rank's partials ``[layers, PARTIALS]`` (float64), waiting for the collective.

    ``extra`` is this rank's partial sum of squares of the clipped gradients, once known.
    With histograms: ``entries`` holds copies of this rank's weight and gradient pieces per
    layer shown (float32 host arrays; None for no gradient), ``ranges`` their finite min and
    max (``[shown, 4]``), and ``finish`` sets ``global_ranges`` from every rank's.
    """

    sums: torch.Tensor
    failure: str | None = None
    extra: torch.Tensor | None = None
    entries: list[tuple[list[np.ndarray], list[np.ndarray] | None]] | None = None
    ranges: torch.Tensor | None = None
    global_ranges: np.ndarray | None = None
    has_grad: np.ndarray | None = None


class ShardedGradientStatistics:
    """GRADIENT_STATS rows of the whole gradients, from this rank's pieces and one ``all_gather``.

    The interface of ``GradientStatistics`` (``measure``, ``global_norm``, ``finish``),
    so the capture uses either.

    Args:
        layers: all layers of the model, in row order.
        selected: indices into ``layers`` of the rows to report (default all).
        read_piece: this rank's ``Piece`` of a parameter (``dtensor_piece``, ``flat_piece``...).
        group: the process group the pieces are spread over (default: the world,
            when a process group is initialised; else this process alone).
        histograms: also measure the weight and gradient histograms of the rows
            reported (``histograms``; a second collective at each logged step).
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        selected: Sequence[int] | None = None,
        *,
        read_piece: PieceReader,
        group: dist.ProcessGroup | None = None,
        histograms: bool = False,
    ) -> None:
        self.with_histograms = histograms
        self.layers = list(layers)
        self.selected = list(range(len(self.layers)) if selected is None else selected)
        self.read_piece = read_piece
        self.group = group
        self._params = [p for layer in self.layers for p in layer.parameters]
        self._layer_of = torch.tensor(
            [i for i, layer in enumerate(self.layers) for _ in layer.parameters], dtype=torch.long
        )
        chosen = set(self.selected)
        self._param_selected = [int(i) in chosen for i in self._layer_of.tolist()]
        self.collectives = 0
        self._clip_failure: str | None = None
        self._workspaces: dict[tuple, torch.Tensor] = {}

    @torch.no_grad()
    def measure(self) -> MeasuredShards:
        """This rank's partials of the current gradients (no collective; errors become a marker)."""
        try:
            measured = MeasuredShards(self._local_partials())
            if self.with_histograms:
                measured.entries = self._local_entries()
                measured.ranges = _entry_ranges(measured.entries)
            return measured
        except Exception as error:  # noqa: BLE001 - any local failure must still reach the collective
            empty = torch.full((len(self.layers), len(PARTIALS)), math.nan, dtype=torch.float64)
            measured = MeasuredShards(empty, failure=f"{type(error).__name__}: {error}")
            if self.with_histograms:
                measured.ranges = torch.full((len(self.selected), _RANGES), math.nan, dtype=torch.float64)
            return measured

    @torch.no_grad()
    def global_norm(self) -> torch.Tensor:
        """This rank's partial sum of squares of the gradients now held (e.g. after clipping).

        ``finish`` combines it over the ranks in the same collective as the table; a failure
        here is kept for ``finish`` to send as this rank's marker.
        """
        total = torch.zeros((), dtype=torch.float64)
        try:
            for parameter in self._params:
                piece = self.read_piece(parameter)
                if piece.grad is not None and piece.grad_counted and piece.grad.numel():
                    norm = torch.linalg.vector_norm(piece.grad, 2, dtype=torch.float64)
                    total = total + norm.to(total.device).square()
        except Exception as error:  # noqa: BLE001 - any local failure must still reach the collective
            self._clip_failure = f"{type(error).__name__}: {error}"
            return torch.tensor(math.nan, dtype=torch.float64)
        return total

    def finish(self, measured: MeasuredShards) -> GradientTable:
        """Gather every rank's partials (one collective) and build the table.

        Raises:
            ShardedStatisticsError: some rank failed to compute its part (named in the message).
        """
        extra = measured.extra if measured.extra is not None else torch.tensor(math.nan)
        failure = measured.failure or self._clip_failure
        self._clip_failure = None
        marker = torch.tensor([0.0 if failure is None else 1.0], dtype=torch.float64)
        ranges = measured.ranges if measured.ranges is not None else torch.zeros(0, dtype=torch.float64)
        packed = torch.cat(
            [
                measured.sums.reshape(-1).cpu(),
                ranges.reshape(-1),
                marker,
                extra.reshape(1).to("cpu", torch.float64),
            ]
        )
        every_rank = self._gather(packed).numpy()
        failed = np.flatnonzero(every_rank[:, -2] != 0).tolist()
        if failed:
            own = f" (this rank: {failure})" if failure else ""
            raise ShardedStatisticsError(f"rank(s) {failed} could not compute their gradient statistics{own}")
        size = len(self.layers) * len(PARTIALS)
        partials = every_rank[:, :size].reshape(len(every_rank), len(self.layers), len(PARTIALS))
        combined = np.concatenate(
            [partials[:, :, _SUMMED].sum(axis=0), partials[:, :, _MAX_ABS:].max(axis=0)], axis=1
        )
        if measured.ranges is not None:
            gathered = every_rank[:, size : size + measured.ranges.numel()]
            gathered = gathered.reshape(len(every_rank), len(self.selected), _RANGES)
            measured.global_ranges = gathered.max(axis=0)
            measured.has_grad = combined[self.selected, _HAS_GRAD] > 0
        clipped_sq = every_rank[:, -1]
        clipped = float(np.sqrt(clipped_sq.sum())) if measured.extra is not None else None
        return layer_table(combined, self.selected, clipped)

    def histograms(self, measured: MeasuredShards) -> list[tuple[str, str, np.ndarray]]:
        """``(kind, layer, buckets)`` of the whole weights and gradients of the rows reported, from
        the step ``finish`` combined: each rank counts its entries into the buckets of the global
        range and one ``all_gather`` sums the counts (``buckets`` as ``histogram_buckets`` makes).
        Nothing, and no collective, when ``finish`` did not combine that step (on every rank alike).

        Raises:
            ShardedStatisticsError: some rank failed to count its entries (named in the message).
        """
        if measured.global_ranges is None:
            return []
        shown = len(self.selected)
        counts = np.zeros((shown, len(_KINDS), HISTOGRAM_BINS), np.float64)
        failure = None
        try:
            for row, entries in enumerate(measured.entries):
                for kind, parts in enumerate(entries):
                    value_range = _kind_range(measured.global_ranges[row], kind)
                    if parts is None or value_range is None:
                        continue
                    for values in parts:  # non-finite entries fall outside every finite range
                        counts[row, kind] += histogram_counts(values, value_range, HISTOGRAM_BINS)
        except Exception as error:  # noqa: BLE001 - any local failure must still reach the collective
            counts[:] = math.nan
            failure = f"{type(error).__name__}: {error}"
        measured.entries = None  # the host copies are no longer needed
        every_rank = self._gather(torch.from_numpy(counts.reshape(-1))).numpy()
        failed = np.flatnonzero(np.isnan(every_rank).any(axis=1)).tolist()
        if failed:
            own = f" (this rank: {failure})" if failure else ""
            raise ShardedStatisticsError(f"rank(s) {failed} could not count their histogram entries{own}")
        total = every_rank.sum(axis=0).reshape(shown, len(_KINDS), HISTOGRAM_BINS)
        result = []
        for row, layer in enumerate(self.selected):
            for kind, name in enumerate(_KINDS):
                if name == "gradients" and not measured.has_grad[row]:
                    continue
                value_range = _kind_range(measured.global_ranges[row], kind)
                buckets = (
                    np.zeros((0, 3), np.float32)
                    if value_range is None
                    else histogram_buckets(total[row, kind], value_range)
                )
                result.append((name, self.layers[layer].name, buckets))
        return result

    def _gather(self, packed: torch.Tensor) -> torch.Tensor:
        self.collectives += 1
        if not dist.is_available() or not dist.is_initialized():
            return packed.reshape(1, -1)
        group = self.group
        device = torch.device("cpu")
        if "nccl" in str(dist.get_backend(group)):
            device = torch.device("cuda", torch.cuda.current_device())
        packed = packed.to(device)
        parts = [torch.empty_like(packed) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, packed, group=group)
        return torch.stack(parts).cpu()

    def _float64_sums(
        self, tensors: list[torch.Tensor], magnitudes: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sum of squares (and with ``magnitudes`` the sum and max of |x|) of each tensor,
        as float64 host tensors.

        Each chunk of a tensor is copied into a reused float64 workspace (no temporary
        the size of the tensor), made absolute there, and reduced from cache: a dot
        product for the squares, a sum and a max, all in float64. (A float32
        ``vector_norm`` accumulates one by one: ~1e-5 off on a 1M-entry tensor.)
        """
        sum_sq, sum_abs, max_abs, owner = [], [], [], []
        for index, tensor in enumerate(tensors):
            flat = tensor.reshape(-1)
            workspace = self._workspace(tensor.device)
            for start in range(0, flat.numel(), _CHUNK):
                part = workspace[: min(_CHUNK, flat.numel() - start)].copy_(flat[start : start + _CHUNK])
                sum_sq.append(torch.dot(part, part))
                if magnitudes:
                    part.abs_()
                    sum_abs.append(part.sum())
                    max_abs.append(part.amax())
                owner.append(index)
        owners = torch.tensor(owner, dtype=torch.long)
        results = []
        for values, reduce in ((sum_sq, "sum"), (sum_abs, "sum"), (max_abs, "amax")):
            zeros = torch.zeros(len(tensors), dtype=torch.float64)
            if values:
                stacked = torch.stack([v.to(values[0].device) for v in values]).cpu()
                zeros = zeros.scatter_reduce(0, owners, stacked, reduce)
            results.append(zeros)
        return results[0], results[1], results[2]

    def _workspace(self, device: torch.device) -> torch.Tensor:
        key = str(device)
        if key not in self._workspaces:
            self._workspaces[key] = torch.empty(_CHUNK, dtype=torch.float64, device=device)
        return self._workspaces[key]

    def _local_partials(self) -> torch.Tensor:
        per_param = torch.zeros(len(self._params), len(PARTIALS), dtype=torch.float64)
        grads, grad_rows, stats_rows, weights, weight_rows = [], [], [], [], []
        for index, parameter in enumerate(self._params):
            piece = self.read_piece(parameter)
            selected = self._param_selected[index]
            if piece.grad is not None:
                per_param[index, _HAS_GRAD] = 1.0
                if piece.grad_counted and piece.grad.numel():
                    grads.append(piece.grad)
                    grad_rows.append(index)
                    stats_rows.append(selected)
                    per_param[index, _COUNT] = piece.grad.numel()
            if selected and piece.counted and piece.weight.numel():
                weights.append(piece.weight)
                weight_rows.append(index)
        for keep in (True, False):
            chosen = [g for g, shown in zip(grads, stats_rows, strict=True) if shown is keep]
            if chosen:
                rows = [row for row, shown in zip(grad_rows, stats_rows, strict=True) if shown is keep]
                sums = self._float64_sums(chosen, magnitudes=keep)
                for column, values in zip((_SUM_SQ, _SUM_ABS, _MAX_ABS), sums, strict=True):
                    per_param[rows, column] = values
                _count_nonfinite(per_param, rows, chosen)
        if weights:
            per_param[weight_rows, _PARAM_SQ] = self._float64_sums(weights, magnitudes=False)[0]
        per_layer = torch.zeros(len(self.layers), len(PARTIALS), dtype=torch.float64)
        per_layer[:, _SUMMED] = per_layer[:, _SUMMED].index_add(0, self._layer_of, per_param[:, _SUMMED])
        for column in (_MAX_ABS, _HAS_GRAD):
            per_layer[:, column] = per_layer[:, column].scatter_reduce(
                0, self._layer_of, per_param[:, column], "amax"
            )
        return per_layer

    def _local_entries(self) -> list[tuple[list[np.ndarray], list[np.ndarray] | None]]:
        """Copies of this rank's weight and gradient pieces (float32, on the host) per row reported:
        a deferred ``finish`` runs after clipping and the optimizer step have changed them."""
        entries = []
        for index in self.selected:
            weights, grads, has_grad = [], [], False
            for parameter in self.layers[index].parameters:
                piece = self.read_piece(parameter)
                if piece.counted and piece.weight.numel():
                    weights.append(_host_copy(piece.weight))
                if piece.grad is not None and not piece.grad.is_sparse:
                    has_grad = True
                    if piece.grad_counted and piece.grad.numel():
                        grads.append(_host_copy(piece.grad))
            entries.append((weights, grads if has_grad else None))
        return entries


def _host_copy(tensor: torch.Tensor) -> np.ndarray:
    flat = tensor.detach().reshape(-1)
    return flat.to("cpu", torch.float32, copy=True).numpy()


def _entry_ranges(entries: list[tuple[list[np.ndarray], list[np.ndarray] | None]]) -> torch.Tensor:
    """``[shown, 4]``: -min and max of the finite weight entries, then of the finite gradient
    entries (-inf: none)."""
    ranges = np.full((len(entries), _RANGES), -math.inf)
    for row, kinds in enumerate(entries):
        for kind, parts in enumerate(kinds):
            for values in parts or []:
                low, high = float(values.min()), float(values.max())
                if not (math.isfinite(low) and math.isfinite(high)):  # NaN/Inf entries: a pass more
                    finite = values[np.isfinite(values)]
                    if not finite.size:
                        continue
                    low, high = float(finite.min()), float(finite.max())
                ranges[row, 2 * kind] = max(ranges[row, 2 * kind], -low)
                ranges[row, 2 * kind + 1] = max(ranges[row, 2 * kind + 1], high)
    return torch.from_numpy(ranges)


def _kind_range(ranges: np.ndarray, kind: int) -> tuple[float, float] | None:
    """The bucket range of one kind from the combined ``[4]`` ranges of a layer; None: no finite entry."""
    low, high = -ranges[2 * kind], ranges[2 * kind + 1]
    if not math.isfinite(low):
        return None
    return histogram_range(float(low), float(high))


def layer_table(combined: np.ndarray, selected: Sequence[int], clipped: float | None) -> GradientTable:
    """The GRADIENT_STATS rows of ``selected`` from whole-model partials ``[layers, PARTIALS]``.

    >>> partials = np.array([[9.0, 5.0, 16.0, 2.0, 0.0, 3.0, 1.0], [0, 0, 4.0, 0, 0, 0, 0]])
    >>> table = layer_table(partials, [0, 1], None)
    >>> table.values[0].tolist(), table.global_norm
    ([3.0, 2.5, 3.0, 4.0, 0.75, 0.0, 1.0], 3.0)
    >>> table.values[1].tolist()[3], table.values[1].tolist()[6]
    (2.0, 0.0)
    """
    has_grad = combined[:, _HAS_GRAD] > 0
    with np.errstate(all="ignore"):
        grad_l2 = np.sqrt(combined[:, _SUM_SQ])
        param_l2 = np.sqrt(combined[:, _PARAM_SQ])
        mean_abs = np.where(combined[:, _COUNT] > 0, combined[:, _SUM_ABS] / combined[:, _COUNT], math.nan)
        ratio = grad_l2 / param_l2
    rows = np.empty((len(selected), len(GRADIENT_STATS)), np.float64)
    for row, layer in enumerate(selected):
        if not has_grad[layer]:
            rows[row] = describe_missing_gradient()
        else:
            rows[row, _COL["grad_l2"]] = grad_l2[layer]
            rows[row, _COL["grad_mean_abs"]] = mean_abs[layer]
            rows[row, _COL["grad_max_abs"]] = combined[layer, _MAX_ABS]
            rows[row, _COL["grad_to_param"]] = ratio[layer]
            rows[row, _COL["grad_nonfinite"]] = combined[layer, _NONFINITE]
            rows[row, _COL["has_grad"]] = 1.0
        rows[row, _COL["param_l2"]] = param_l2[layer]
    global_norm = float(np.sqrt(combined[has_grad, _SUM_SQ].sum())) if has_grad.any() else None
    return GradientTable(rows, global_norm, clipped)


def _count_nonfinite(per_param: torch.Tensor, rows: list[int], tensors: list[torch.Tensor]) -> None:
    """Count the NaN/Inf entries of the tensors whose float64 sum of squares is not finite
    (a finite float32 gradient cannot overflow it: no pass of its own in a finite step)."""
    finite = torch.isfinite(per_param[rows, _SUM_SQ]).tolist()
    for row, tensor, ok in zip(rows, tensors, finite, strict=True):
        if not ok:
            per_param[row, _NONFINITE] = float(torch.isfinite(tensor).logical_not().sum())
