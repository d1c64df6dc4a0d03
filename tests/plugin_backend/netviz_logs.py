"""Real netviz event files written by ``NetVizWriter``, and what they hold.

Runs of the log directory:
- ``exp1``: gradient flow at 25 steps (0, 10, ..., 240; ``log_every_n_steps=10``)
  over three layers, with a zero gradient, a layer without gradient and
  non-finite values; activations, attention (self) and feature maps at steps
  0, 100, 200; alerts at steps 30 and 70 (cumulative history, the last one
  saying 4 alerts were left out); scalars; Grad-CAM of ``conv1`` (``gradcam_maps``) at the
  probe steps, with true labels, and the probe images once.
- ``nested/exp2``: gradient flow at three irregular steps and a cross-attention
  layer; no ``log_every_n_steps`` (the stride is inferred), no alerts.
- ``scalars_only``: a scalar and nothing else of netviz: not a netviz run.
- ``future``: gradient flow written by a newer format version.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tb_netviz.summary import GRADIENT_STATS, AlertThresholds, CaptureOptions, NetVizWriter, encoders
from tb_netviz.summary.columns import ACTIVATION_STATS
from tb_netviz.summary.event_writer import EventWriter

LAYERS = ["conv1", "enc.attn", "head"]
# exp1 is written as a callback would, with non-default alert thresholds in its metadata.
EXP1_OPTIONS = CaptureOptions(
    log_every_n_steps=10, sample_every_n_steps=100, alert_thresholds=AlertThresholds(1e-3, 5.0, 0.75, 2)
)
EXP1_THRESHOLDS = {"vanishing_ratio": 1e-3, "exploding_factor": 5.0, "dead_fraction": 0.75, "patience": 2}
STEPS = list(range(0, 250, 10))
PROBE_STEPS = [0, 100, 200]
ALERT_STEPS = [30, 70]
ALERTS_OMITTED = 4  # as if the writer had capped the history; written with the last alerts
TOKENS = ["the", "cat", "sat"]
NO_GRADIENT = (40, "head")
ZERO_GRADIENT = (20, "enc.attn")
NON_FINITE = (70, "conv1")
EXP2_STEPS = [3, 7, 15]
EXP2_LAYERS = ["embed", "out"]
CROSS_TOKENS = (["q0", "q1"], ["k0", "k1", "k2", "k3"])


def gradient_row(step: int, layer: str) -> list[float]:
    """The gradient statistics written for ``layer`` at ``step``."""
    j = LAYERS.index(layer)
    if (step, layer) == NO_GRADIENT:
        row = [math.nan] * len(GRADIENT_STATS)
        row[GRADIENT_STATS.index("grad_nonfinite")] = 0.0
        row[GRADIENT_STATS.index("has_grad")] = 0.0
        row[GRADIENT_STATS.index("param_l2")] = 3.0
        return row
    l2 = 0.0 if (step, layer) == ZERO_GRADIENT else 0.001 * (j + 1) * (step + 1)
    row = [l2, l2 / 10, l2 * 2, 1.0 + j, l2 / (1.0 + j), 0.0, 1.0]
    if (step, layer) == NON_FINITE:
        row[0], row[2], row[5] = math.nan, math.inf, 5.0
    return row


def activation_row(step: int, layer: str) -> list[float]:
    """The activation statistics written for ``layer`` at ``step``."""
    j = LAYERS.index(layer)
    return [0.1 * j + step / 1000, 1.0 + j, 0.25, 0.0, 2.0 + step / 100, 0.0]


def attention_weights(step: int) -> np.ndarray:
    """The ``[2, 3, 3]`` attention matrices of ``enc.attn`` at ``step``."""
    base = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    return (base + step) / 100.0


def alert_history(up_to_step: int) -> list[dict]:
    """The cumulative alert history written at ``up_to_step``."""
    alerts = [
        {
            "kind": "vanishing",
            "layer": "head",
            "step": 30,
            "value": 1e-5,
            "threshold": 1e-4,
            "message": "vanishing gradient in layer 'head' at step 30",
        },
        {
            "kind": "nonfinite",
            "layer": "conv1",
            "step": 70,
            "value": 5.0,
            "threshold": 0.0,
            "message": "non-finite gradient in layer 'conv1' at step 70",
        },
    ]
    return [a for a in alerts if a["step"] <= up_to_step]


GRADCAM_LABELS = np.array([2, 0, 1])
PROBE_IMAGES = np.random.default_rng(7).random((3, 4, 5, 1)).astype(np.float32)


def gradcam_maps(step: int) -> np.ndarray:
    """exp1's raw Grad-CAM maps of conv1 at a probe step: [3 samples, 4, 5], growing with the step."""
    return (np.random.default_rng(step + 1).random((3, 4, 5)) * (1 + step / 100)).astype(np.float32)


def gradcam_targets(step: int) -> tuple[np.ndarray, np.ndarray]:
    """exp1's explained classes (the labels) and their probabilities at a probe step."""
    return GRADCAM_LABELS, np.array([0.5, 0.25, 0.125]) + step / 1000


def write_logdir(root: Path) -> Path:
    """Write all runs under ``root``; returns ``root``."""
    _write_exp1(root / "exp1")
    _write_exp2(root / "nested" / "exp2")
    with NetVizWriter(root / "scalars_only") as writer:
        writer.scalar(0, "loss", 1.0)
    _write_future(root / "future")
    return root


def _write_exp1(run_dir: Path) -> None:
    with NetVizWriter(run_dir) as writer:
        for step in STEPS:
            table = np.array([gradient_row(step, layer) for layer in LAYERS], np.float32)
            writer.gradient_flow(step, LAYERS, table, **EXP1_OPTIONS.gradient_flow_content())
            writer.scalar(step, "netviz/global_grad_norm", float(np.nansum(table[:, 0])))
            if step in ALERT_STEPS:
                writer.alerts(
                    step, alert_history(step), omitted=ALERTS_OMITTED if step == ALERT_STEPS[-1] else 0
                )
            if step in PROBE_STEPS:
                activations = np.array([activation_row(step, layer) for layer in LAYERS], np.float32)
                writer.activations(step, LAYERS, activations, **EXP1_OPTIONS.activations_content())
                writer.attention(step, "enc.attn", attention_weights(step), tokens=TOKENS)
                maps = np.random.default_rng(step).random((4, 5, 6)).astype(np.float32)
                writer.feature_maps(step, "conv1", maps)
                classes, probabilities = gradcam_targets(step)
                writer.gradcam(
                    step,
                    {"conv1": gradcam_maps(step)},
                    classes,
                    probabilities,
                    PROBE_IMAGES,
                    target="label",
                    labels=GRADCAM_LABELS,
                )


def _write_exp2(run_dir: Path) -> None:
    with NetVizWriter(run_dir) as writer:
        for step in EXP2_STEPS:
            table = np.full((len(EXP2_LAYERS), len(GRADIENT_STATS)), float(step), np.float32)
            table[:, GRADIENT_STATS.index("has_grad")] = 1.0
            writer.gradient_flow(step, EXP2_LAYERS, table)
        writer.attention(7, "cross", np.full((1, 2, 4), 0.25, np.float32), tokens=CROSS_TOKENS)


def _write_future(run_dir: Path) -> None:
    value = encoders.gradient_flow_value(["fc"], np.ones((1, len(GRADIENT_STATS)), np.float32))
    value.metadata.plugin_data.content = value.metadata.plugin_data.content.replace(
        b'"version": 1', b'"version": 99'
    )
    with EventWriter(run_dir) as events:
        events.add(lambda: [value], step=0)


ACTIVATION_STAT_NAMES = list(ACTIVATION_STATS)
