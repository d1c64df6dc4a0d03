"""Realistic netviz logs for the browser tests, written with ``NetVizWriter``.

Run ``deep`` (a 28-layer network, gradient flow every 10 steps, 0..290):
- the four layers nearest the input have vanishing gradients (~1e-9 of the head's);
- ``frozen.embedding`` never receives a gradient (``has_grad`` 0, the missing row);
- at ``NAN_STEP`` the layer ``NAN_LAYER`` has a NaN gradient;
- a layer is named ``HOSTILE_LAYER`` (an HTML injection attempt);
- alerts come from the real ``AlertDetector`` over these statistics;
- ``encoder.layers.0.self_attn`` writes 4-head attention with ``TOKENS``;
- ``features.0`` writes feature maps (one dead channel, one NaN patch); activations are written
  on probe steps.

Run ``long`` has 150 logged steps of a small network, so TensorBoard's default
sampling (100 events per netviz tag) keeps only some of them.

Run ``transformer`` is a 4-block encoder with deep names (``TRANSFORMER_LAYERS``:
``encoder.layers.3.self_attn.out_proj`` ...), gradient flow at steps 0..190; run
``diverged`` grows for ``DIVERGE_STEP`` steps, then every layer is NaN/Inf to the end
(like a too-high learning rate), with the alerts the real ``AlertDetector`` raises.
Both transformer runs carry ``MODEL_LAYER`` (the row of the root module's own
parameters) in their metadata; run ``transformer_nan`` is ``transformer`` with block 2's
feed-forward (``TRANSFORMER_NAN_LAYERS``) non-finite from ``TRANSFORMER_NAN_STEP`` on; run
``spiked`` is ``diverged`` without the divergence, but for one isolated spike.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tb_netviz.summary import GRADIENT_STATS, AlertDetector, NetVizWriter
from tb_netviz.summary.columns import describe_missing_gradient
from tb_netviz.summary.metadata import model_layer_content
from tb_netviz.summary.options import CaptureOptions

HOSTILE_LAYER = "<img src=x onerror=alert(1)>"
# A run directory named like an HTML injection (sorted last, so it is never the default run).
HOSTILE_RUN = "zz<img src=x onerror=alert(2)>"
NO_GRADIENT_LAYER = "frozen.embedding"
ATTENTION_LAYER = "encoder.layers.0.self_attn"
FEATURE_MAP_LAYER = "features.0"
FEATURE_MAP_CHANNELS = 8
DEAD_CHANNEL = 5
NAN_CHANNEL = 2
NAN_LAYER = "encoder.layers.1.linear1"
NAN_STEP = 150
TOKENS = ["<s>", "the", "cat", "sat", "on", "the", "mat", "</s>"]
STEPS = list(range(0, 300, 10))
PROBE_STEPS = [0, 100, 200, 290]
LONG_STEPS = list(range(0, 1500, 10))

LAYERS = (
    [NO_GRADIENT_LAYER]
    + [f"features.{i}" for i in (0, 3, 6, 8)]
    + [HOSTILE_LAYER]
    + [
        f"encoder.layers.{n}.{part}"
        for n in range(3)
        for part in ("self_attn", "linear1", "linear2", "norm1", "norm2", "dropout_proj")
    ]
    + ["encoder.norm", "pool.proj", "classifier.0", "classifier.2"]
)
VANISHING_LAYERS = [f"features.{i}" for i in (0, 3, 6, 8)]
# What a callback puts in the table's metadata: the logging interval and the default alert thresholds.
DEEP_CONTENT = CaptureOptions(log_every_n_steps=10).gradient_flow_content()


def gradient_table(step: int, rng: np.random.Generator) -> np.ndarray:
    """The ``[layers, GRADIENT_STATS]`` statistics of the ``deep`` run at ``step``."""
    rows = []
    for j, layer in enumerate(LAYERS):
        if layer == NO_GRADIENT_LAYER:
            row = describe_missing_gradient()
            row[GRADIENT_STATS.index("param_l2")] = 12.0
            rows.append(row)
            continue
        depth = j / len(LAYERS)
        l2 = 10 ** (-3 + 2.5 * depth) * (1 + 0.2 * rng.random()) * (1 + step / 300)
        if layer in VANISHING_LAYERS:
            l2 = 1e-10 * (1 + rng.random())
        param = 1.0 + j / 4
        row = [l2, l2 / 30, l2 / 4, param, l2 / param, 0.0, 1.0]
        if layer == NAN_LAYER and step == NAN_STEP:
            row = [math.nan, math.nan, math.inf, param, math.nan, 17.0, 1.0]
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def activation_table(step: int) -> np.ndarray:
    """The ``[layers, ACTIVATION_STATS]`` statistics on the probe batch at ``step``."""
    rows = []
    for j, _ in enumerate(LAYERS):
        dead = 0.6 if j == 2 else 0.02
        rows.append([0.05 * j - 0.3, 1.0 / (1 + j / 10), 0.3, dead, 3.0 + step / 100, 0.0])
    return np.array(rows, dtype=np.float32)


def attention_weights(step: int, rng: np.random.Generator) -> np.ndarray:
    """Causal ``[4, 8, 8]`` attention rows that sum to one."""
    n = len(TOKENS)
    logits = rng.normal(size=(4, n, n)) + np.eye(n) * (1 + step / 100)
    logits = np.where(np.tril(np.ones((n, n))) > 0, logits, -np.inf)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def feature_maps(step: int) -> np.ndarray:
    """The ``features.0`` maps: 8 channels of 12x12, channel ``DEAD_CHANNEL`` all zero and a
    3x3 NaN patch in the top-left corner of channel ``NAN_CHANNEL``."""
    maps = np.sin(np.arange(8 * 12 * 12).reshape(8, 12, 12) / (7 + step / 50)).astype(np.float32)
    maps[DEAD_CHANNEL] = 0.0
    maps[NAN_CHANNEL, :3, :3] = np.nan
    return maps


def write_deep_run(run_dir: Path) -> None:
    """Write the ``deep`` run described in the module docstring."""
    rng = np.random.default_rng(0)
    detector = AlertDetector(warn=False)
    with NetVizWriter(run_dir) as writer:
        for step in STEPS:
            table = gradient_table(step, rng)
            writer.gradient_flow(step, LAYERS, table, **DEEP_CONTENT)
            fired = detector.check_gradients(step, LAYERS, table)
            if step in PROBE_STEPS:
                activations = activation_table(step)
                writer.activations(step, LAYERS, activations)
                fired += detector.check_activations(step, LAYERS, activations)
                writer.attention(step, ATTENTION_LAYER, attention_weights(step, rng), tokens=TOKENS)
                writer.feature_maps(step, FEATURE_MAP_LAYER, feature_maps(step))
            if fired:
                writer.alerts(step, detector.history, detector.omitted)
            writer.scalar(step, "netviz/global_grad_norm", float(np.nansum(table[:, 0])))


def write_long_run(run_dir: Path) -> None:
    """Write the ``long`` run: more logged steps than TensorBoard keeps by default."""
    layers = ["embed", "hidden.0", "hidden.1", "head"]
    with NetVizWriter(run_dir) as writer:
        for step in LONG_STEPS:
            table = np.array(
                [[0.1 * (j + 1), 0.01, 0.2, 1.0, 0.1, 0.0, 1.0] for j in range(len(layers))], np.float32
            ) * (1 + step / 1500)
            table[:, GRADIENT_STATS.index("has_grad")] = 1.0
            table[:, GRADIENT_STATS.index("grad_nonfinite")] = 0.0
            writer.gradient_flow(step, layers, table, log_every_n_steps=10)


TRANSFORMER_LAYERS = (
    ["Reverser", "embed"]
    + [
        f"encoder.layers.{n}.{part}"
        for n in range(4)
        for part in ("self_attn", "self_attn.out_proj", "linear1", "linear2", "norm1", "norm2")
    ]
    + ["head"]
)
TRANSFORMER_STEPS = list(range(0, 200, 10))
# The transformer's root module owns parameters itself (a positional embedding): its row.
MODEL_LAYER = "Reverser"
TRANSFORMER_NAN_LAYERS = ["encoder.layers.2.linear1", "encoder.layers.2.linear2"]
TRANSFORMER_NAN_STEP = 150
DIVERGED_LAYERS = ["fc1", "fc2", "fc3", "regressor"]
DIVERGED_STEPS = list(range(60))
DIVERGE_STEP = 31


# The same model with a final norm instead of block 3's norm2, three times the gradient
# (a higher learning rate), logged every 20 steps: what the comparison is tested on.
TRANSFORMER_B_LAYERS = [n for n in TRANSFORMER_LAYERS if n != "encoder.layers.3.norm2"]
TRANSFORMER_B_LAYERS.insert(-1, "final_norm")
TRANSFORMER_B_STEPS = list(range(0, 200, 20))


def write_transformer_run(
    run_dir: Path, layers=TRANSFORMER_LAYERS, steps=TRANSFORMER_STEPS, scale=1.0
) -> None:
    """Write a ``transformer`` run: deep layer names, healthy gradients (``scale`` times the first's)."""
    rng = np.random.default_rng(1)
    with NetVizWriter(run_dir) as writer:
        for step in steps:
            rows = []
            for name in layers:
                j = TRANSFORMER_LAYERS.index(name) if name in TRANSFORMER_LAYERS else len(TRANSFORMER_LAYERS)
                l2 = scale * 10 ** (-2 + j / 15) * (1 + 0.3 * rng.random())
                rows.append([l2, l2 / 30, l2 / 4, 1.0 + j / 8, l2 / (1.0 + j / 8), 0.0, 1.0])
            writer.gradient_flow(
                step,
                layers,
                np.array(rows, np.float32),
                log_every_n_steps=10,
                **model_layer_content(MODEL_LAYER),
            )


def write_transformer_nan_run(run_dir: Path) -> None:
    """Write the ``transformer_nan`` run: the transformer's layers, block 2's feed-forward going
    non-finite from ``TRANSFORMER_NAN_STEP`` on, with the alerts the detector raises."""
    rng = np.random.default_rng(3)
    detector = AlertDetector(warn=False)
    broken = [TRANSFORMER_LAYERS.index(n) for n in TRANSFORMER_NAN_LAYERS]
    with NetVizWriter(run_dir) as writer:
        for step in TRANSFORMER_STEPS:
            rows = []
            for j, _ in enumerate(TRANSFORMER_LAYERS):
                l2 = 10 ** (-2 + j / 15) * (1 + 0.3 * rng.random())
                rows.append([l2, l2 / 30, l2 / 4, 1.0 + j / 8, l2 / (1.0 + j / 8), 0.0, 1.0])
            table = np.array(rows, np.float32)
            if step >= TRANSFORMER_NAN_STEP:
                table[broken, :5] = math.nan
                table[broken, GRADIENT_STATS.index("grad_nonfinite")] = 12.0
            writer.gradient_flow(
                step, TRANSFORMER_LAYERS, table, log_every_n_steps=10, **model_layer_content(MODEL_LAYER)
            )
            if detector.check_gradients(step, TRANSFORMER_LAYERS, table):
                writer.alerts(step, detector.history, detector.omitted)


def diverged_table(step: int, rng: np.random.Generator) -> np.ndarray:
    """The ``diverged`` run's statistics: flat, then growing 1e6-fold a step, then NaN/Inf."""
    rows = []
    for j, _ in enumerate(DIVERGED_LAYERS):
        if step >= DIVERGE_STEP:
            rows.append([math.nan, math.nan, math.inf, math.nan, math.nan, 1105.0 + j, 1.0])
            continue
        growth = 10 ** (6 * max(0, step - 24)) if step > 24 else 1.0
        l2 = (60 + 15 * rng.random() + 3 * j) * growth
        rows.append([l2, l2 / 30, l2 / 4, 5.0 + step / 10, l2 / (5.0 + step / 10), 0.0, 1.0])
    return np.array(rows, np.float32)


def write_diverged_run(run_dir: Path) -> None:
    """Write the ``diverged`` run described in the module docstring."""
    rng = np.random.default_rng(2)
    detector = AlertDetector(warn=False)
    with NetVizWriter(run_dir) as writer:
        for step in DIVERGED_STEPS:
            table = diverged_table(step, rng)
            writer.gradient_flow(step, DIVERGED_LAYERS, table, log_every_n_steps=1)
            if detector.check_gradients(step, DIVERGED_LAYERS, table):
                writer.alerts(step, detector.history, detector.omitted)


SPIKE_STEP = 40
SPIKE_LAYER = "fc2"


def write_spiked_run(run_dir: Path) -> None:
    """Write the ``spiked`` run: the ``diverged`` run's layers, healthy for all of
    ``DIVERGED_STEPS`` but for one isolated spike (1e20 times) in ``SPIKE_LAYER`` at ``SPIKE_STEP``."""
    rng = np.random.default_rng(4)
    with NetVizWriter(run_dir) as writer:
        for step in DIVERGED_STEPS:
            rows = []
            for j, layer in enumerate(DIVERGED_LAYERS):
                l2 = (60 + 15 * rng.random() + 3 * j) * (
                    1e20 if (step, layer) == (SPIKE_STEP, SPIKE_LAYER) else 1
                )
                rows.append([l2, l2 / 30, l2 / 4, 5.0, l2 / 5.0, 0.0, 1.0])
            writer.gradient_flow(step, DIVERGED_LAYERS, np.array(rows, np.float32), log_every_n_steps=1)


def write_logdir(root: Path) -> Path:
    """Write the ``deep``, ``long``, ``transformer(_b)``, ``diverged`` and ``spiked`` runs (and more, see
    the module docstring) under ``root``; returns it."""
    write_deep_run(root / "deep")
    write_long_run(root / "long")
    write_transformer_run(root / "transformer")
    write_transformer_run(root / "transformer_b", TRANSFORMER_B_LAYERS, TRANSFORMER_B_STEPS, scale=3.0)
    write_diverged_run(root / "diverged")
    write_spiked_run(root / "spiked")
    write_transformer_nan_run(root / "transformer_nan")
    write_growing_run(root / HOSTILE_RUN, steps=range(0, 30, 10))
    return root


def write_growing_run(run_dir: Path, steps) -> None:
    """Write (or append) gradient flow of a 3-layer network at ``steps``: a run still training."""
    layers = ["input.proj", "block.0", "output.head"]
    with NetVizWriter(run_dir) as writer:
        for step in steps:
            table = np.array([[0.5 * (j + 1), 0.05, 1.0, 2.0, 0.25, 0.0, 1.0] for j in range(3)], np.float32)
            writer.gradient_flow(step, layers, table, log_every_n_steps=10)
