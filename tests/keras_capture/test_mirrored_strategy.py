"""MirroredStrategy over 2 logical CPU devices: one writer, the aggregated gradient is measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .netviz_events import gradient_rows, read_run

ROOT = Path(__file__).resolve().parents[2]


def test_mirrored_training_logs_the_aggregated_gradient_once(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "tests.keras_capture.mirrored_child", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=300,
        capture_output=True,
    )

    expected = json.loads((tmp_path / "expected.json").read_text())
    assert expected["replicas"] == 2
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    layers, table = gradient_rows(tmp_path)
    assert layers == ["hidden", "out"]
    assert sorted(table) == [0, 1]
    for layer, stats in expected["layers"].items():
        for name, value in stats.items():
            assert table[0][layer][name] == pytest.approx(value, rel=1e-5), (layer, name)
    assert [e.step for e in read_run(tmp_path)["netviz/activations"]] == [0, 1]
