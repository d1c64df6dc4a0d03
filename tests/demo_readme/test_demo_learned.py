"""The Keras digits demo shows its kernels and a penultimate embedding that separates the digits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.torch_capture.events import Run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("demo-learned")
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--quick", "--only", "keras", "--logdir", str(logdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return logdir / "keras_digits_cnn"


def separation(rows: np.ndarray) -> float:
    """Mean distance between samples of one digit over the mean distance between different digits."""
    points, labels = rows[:-1, :3], rows[:-1, 3]
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    others = ~np.eye(len(labels), dtype=bool)
    same = (labels[:, None] == labels[None]) & others
    return float(distance[same].mean() / distance[~same & others].mean())


def test_the_digits_cnn_shows_its_kernels_and_dense_matrices(digits_run):
    run = Run(digits_run)
    weights = {tag for tag in run.tags if tag.startswith("netviz/weights/")}
    assert weights == {f"netviz/weights/{n}" for n in ("conv1", "conv2", "dense", "logits")}
    assert run.content("netviz/weights/conv2")["shown"] == [16, 16]
    assert "netviz/weight_images/conv1" in run.tags


def test_the_penultimate_embedding_separates_the_digits_more_as_training_goes_on(digits_run):
    run = Run(digits_run)
    stored = run.values("netviz/embedding/logits")
    assert run.content("netviz/embedding/logits")["of"] == "input"
    assert run.content("netviz/embedding/logits")["label_source"] == "sample_labels"
    first, last = separation(stored[0][1]), separation(stored[-1][1])
    assert last < first
    assert (digits_run / "projector_config.pbtxt").exists()
