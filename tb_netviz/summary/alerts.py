"""Alert rules, defined once for both frameworks.

The callbacks feed each logged step's statistics (host numpy arrays in the
column order of ``columns``) to an ``AlertDetector``; it returns the alerts that
fire at that step and keeps the run's whole history, which is what gets
written to ``netviz/alerts`` so that TensorBoard's step sampling, which always
keeps the newest event of a tag, can never lose an alert.

Example:
    >>> import numpy as np
    >>> from tb_netviz.summary.columns import GRADIENT_STATS
    >>> detector = AlertDetector(AlertThresholds(), warn=False)
    >>> row = [np.nan] * len(GRADIENT_STATS)
    >>> row[GRADIENT_STATS.index("grad_nonfinite")] = 3.0
    >>> row[GRADIENT_STATS.index("has_grad")] = 1.0
    >>> [a["kind"] for a in detector.check_gradients(7, ["fc"], np.array([row]))]
    ['nonfinite']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tb_netviz.summary.columns import ACTIVATION_STATS, GRADIENT_STATS
from tb_netviz.summary.user_warnings import warn_from_caller

NONFINITE = "nonfinite"
VANISHING = "vanishing"
EXPLODING = "exploding"
DEAD_UNITS = "dead_units"
ALERT_KINDS = (NONFINITE, VANISHING, EXPLODING, DEAD_UNITS)

# The history written with every alerts event is capped so that a run that
# alerts forever still writes small events; the first alerts are the ones
# that explain a failure, so those are kept.
MAX_ALERT_HISTORY = 1000


# A vanishing layer counts as recovered only once its ratio is this many times the
# threshold; a ratio that wanders around the threshold would otherwise re-fire.
_VANISHING_RECOVERY = 10.0


class NetVizAlertWarning(UserWarning):
    """Emitted once per kind of alert and layer when a training problem is detected."""


@dataclasses.dataclass(frozen=True)
class AlertThresholds:
    """When an alert fires. The same options for Keras and torch.

    Args:
        vanishing_ratio: a layer's ``grad_l2`` below this fraction of the largest
            layer's ``grad_l2`` at the same step counts as vanishing (default 1e-4).
        exploding_factor: a layer's ``grad_l2`` above this multiple of its own
            recent average counts as exploding (default 10).
        dead_fraction: a layer whose fraction of dead units (zero for the whole
            probe batch) reaches this value fires ``dead_units`` (default 0.5).
        patience: logged steps a vanishing condition must last before it fires,
            logged steps of history a layer needs before it can explode, and checks a
            condition must stay clear before its alert can fire again (default 3).

    Raises:
        ValueError: a threshold outside its meaningful range.

    Example:
        >>> AlertThresholds(vanishing_ratio=1e-3).vanishing_ratio
        0.001
    """

    vanishing_ratio: float = 1e-4
    exploding_factor: float = 10.0
    dead_fraction: float = 0.5
    patience: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.vanishing_ratio < 1:
            raise ValueError(f"vanishing_ratio must be in (0, 1), got {self.vanishing_ratio!r}")
        if not 1 < self.exploding_factor < math.inf:
            raise ValueError(
                f"exploding_factor must be a finite number > 1 (a very large one, e.g. 1e30, "
                f"silences exploding alerts), got {self.exploding_factor!r}"
            )
        if not 0 < self.dead_fraction <= 1:
            raise ValueError(f"dead_fraction must be in (0, 1], got {self.dead_fraction!r}")
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {self.patience!r}")


class AlertDetector:
    """Decides which alerts fire at each logged step and keeps the run's history.

    An alert of one kind for one layer fires when its condition starts and is
    re-armed only once the condition has stayed clear for ``patience`` checks, so
    a persistent problem, or a value hovering at a threshold, is reported once,
    not at every step. Each (kind, layer) also raises one
    ``NetVizAlertWarning`` per detector when ``warn`` is true.
    """

    _EMA_DECAY = 0.9

    def __init__(self, thresholds: AlertThresholds | None = None, *, warn: bool = True) -> None:
        self.thresholds = thresholds or AlertThresholds()
        self.history: list[dict[str, Any]] = []
        self.omitted = 0
        self._warn = warn
        self._active: set[tuple[str, str]] = set()
        self._clear_streak: dict[tuple[str, str], int] = {}
        self._warned: set[tuple[str, str]] = set()
        self._vanishing_streak: dict[str, int] = {}
        self._norm_average: dict[str, float] = {}
        self._norm_count: dict[str, int] = {}

    def check_gradients(self, step: int, layers: Sequence[str], values: np.ndarray) -> list[dict[str, Any]]:
        """The non-finite, vanishing and exploding alerts that fire at ``step``."""
        values = _checked_table(values, layers, GRADIENT_STATS)
        col = {name: values[:, i] for i, name in enumerate(GRADIENT_STATS)}
        has_grad = col["has_grad"] > 0
        l2 = col["grad_l2"]
        finite = has_grad & np.isfinite(l2) & (col["grad_nonfinite"] == 0)
        # Every entry finite but the norm beyond float range: the largest explosion there is.
        overflowed = has_grad & np.isposinf(l2) & (col["grad_nonfinite"] == 0)
        largest = float(l2[finite].max()) if finite.any() else 0.0
        fired = []
        for i, layer in enumerate(layers):
            nonfinite = bool(has_grad[i] and col["grad_nonfinite"][i] > 0)
            fired += self._edge(step, NONFINITE, layer, nonfinite, col["grad_nonfinite"][i], 0.0)
            ratio = float(l2[i] / largest) if finite[i] and largest > 0 else math.nan
            fired += self._vanishing(step, layer, ratio)
            fired += self._exploding(step, layer, float(l2[i]) if finite[i] else math.nan, overflowed[i])
        return self._record(fired)

    def check_activations(self, step: int, layers: Sequence[str], values: np.ndarray) -> list[dict[str, Any]]:
        """The dead-unit alerts that fire at ``step``."""
        values = _checked_table(values, layers, ACTIVATION_STATS)
        dead = values[:, ACTIVATION_STATS.index("act_dead_frac")]
        fired = []
        limit = self.thresholds.dead_fraction
        for layer, fraction in zip(layers, dead, strict=True):
            is_dead = bool(np.isfinite(fraction) and fraction >= limit)
            fired += self._edge(step, DEAD_UNITS, layer, is_dead, fraction, limit)
        return self._record(fired)

    def _vanishing(self, step: int, layer: str, ratio: float) -> list[dict[str, Any]]:
        limit = self.thresholds.vanishing_ratio
        below = ratio < limit  # NaN (no gradient) compares False and resets the streak
        streak = self._vanishing_streak.get(layer, 0) + 1 if below else 0
        self._vanishing_streak[layer] = streak
        vanishing = streak >= self.thresholds.patience
        if (VANISHING, layer) in self._active and not ratio >= limit * _VANISHING_RECOVERY:
            vanishing = True  # hovering just above the threshold is not a recovery
        return self._edge(step, VANISHING, layer, vanishing, ratio, limit)

    def _exploding(self, step: int, layer: str, norm: float, overflowed: bool) -> list[dict[str, Any]]:
        if overflowed:
            return self._edge(step, EXPLODING, layer, True, math.inf, self.thresholds.exploding_factor)
        if not math.isfinite(norm):
            return []
        average = self._norm_average.get(layer)
        count = self._norm_count.get(layer, 0)
        factor = self.thresholds.exploding_factor
        enough_history = count >= self.thresholds.patience and average is not None and average > 0
        growth = norm / average if enough_history else math.nan
        fired = self._edge(step, EXPLODING, layer, growth > factor, growth, factor)
        decay = self._EMA_DECAY
        self._norm_average[layer] = norm if average is None else decay * average + (1 - decay) * norm
        self._norm_count[layer] = count + 1
        return fired

    def _edge(
        self, step: int, kind: str, layer: str, condition: bool, value: float, threshold: float
    ) -> list[dict[str, Any]]:
        key = (kind, layer)
        if not condition:
            if key in self._active:
                # Re-arm only after the condition stayed clear for `patience` checks, so a
                # value hovering at a threshold is one alert, not one per crossing.
                self._clear_streak[key] = self._clear_streak.get(key, 0) + 1
                if self._clear_streak[key] >= self.thresholds.patience:
                    self._active.discard(key)
            return []
        self._clear_streak[key] = 0
        if key in self._active:
            return []
        self._active.add(key)
        alert = {
            "kind": kind,
            "layer": layer,
            "step": int(step),
            "value": _json_number(value),
            "threshold": _json_number(threshold),
            "message": _message(kind, layer, int(step), value, threshold),
        }
        if self._warn and key not in self._warned:
            self._warned.add(key)
            warn_from_caller(f"tb-netviz: {alert['message']}", NetVizAlertWarning)
        return [alert]

    def _record(self, fired: list[dict[str, Any]]) -> list[dict[str, Any]]:
        room = MAX_ALERT_HISTORY - len(self.history)
        self.history.extend(fired[:room])
        self.omitted += max(0, len(fired) - max(room, 0))
        return fired


def _checked_table(values: np.ndarray, layers: Sequence[str], stats: Sequence[str]) -> np.ndarray:
    if isinstance(layers, (str, bytes)) or not all(isinstance(name, str) and name for name in layers):
        raise TypeError(f"layers must be a sequence of non-empty str names, got {layers!r:.80}")
    values = np.asarray(values)
    if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise TypeError(f"statistics must be a numeric array, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.shape != (len(layers), len(stats)):
        raise ValueError(
            f"expected statistics of shape ({len(layers)}, {len(stats)}) for "
            f"{len(layers)} layers x {len(stats)} columns, got {values.shape}"
        )
    return values


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def format_number(value: float) -> str:
    """A number as alert messages print it: 3 significant digits, powers of ten for large and
    small magnitudes (mantissa and exponent without padding), whole numbers below 1e5 as they
    are; the dashboard's ``formatShort`` (frontend/shape.js) reads the same.

    Example:
        >>> [format_number(v) for v in (1011298.7, 11.84, 2.7075e-6, 0.5, 1105.0, 1e-5)]
        ['1.01e6', '11.8', '2.71e-6', '0.5', '1105', '1e-5']
    """
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e5:
        return str(int(value))
    if magnitude >= 1e4 or magnitude < 1e-3:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{float(f'{value:.3g}'):g}"


def _message(kind: str, layer: str, step: int, value: float, threshold: float) -> str:
    if kind == NONFINITE:
        return f"non-finite gradient in layer {layer!r} at step {step} ({int(value)} NaN/Inf entries)"
    if kind == VANISHING:
        return (
            f"vanishing gradient in layer {layer!r} at step {step}: its gradient norm is "
            f"{format_number(value)} of the largest layer's (threshold {format_number(threshold)})"
        )
    if kind == EXPLODING and math.isinf(value):
        return (
            f"exploding gradient in layer {layer!r} at step {step}: its gradient norm overflowed "
            "the float range although every entry is finite"
        )
    if kind == EXPLODING:
        return (
            f"exploding gradient in layer {layer!r} at step {step}: its gradient norm grew "
            f"{format_number(value)}x over its recent average (threshold {format_number(threshold)}x)"
        )
    return (
        f"dead units in layer {layer!r} at step {step}: {format_number(100 * value)}% of its units "
        f"are zero for the whole probe batch (threshold {format_number(100 * threshold)}%)"
    )
