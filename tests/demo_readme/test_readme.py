"""README.md is right: its commands exist and its code snippets run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import event_accumulator

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
COMMANDS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_demo_command_and_the_test_command():
    assert COMMANDS[0].strip() == "bash scripts/demo.sh"
    assert COMMANDS[1].strip() == "bash scripts/test.sh"
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def test_readme_has_a_snippet_for_each_framework():
    imports = " ".join(SNIPPETS)
    for name in (
        "tb_netviz.torch import NetViz",
        "tb_netviz.torch import NetVizCallback",
        "tb_netviz.keras import NetVizCallback",
    ):
        assert name in imports


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_runs_as_written_and_writes_netviz_data(snippet, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-5000:]
    event_files = list((tmp_path / "runs").rglob("*tfevents*"))
    assert event_files, "the snippet wrote no event file"
    tags = set()
    for path in event_files:
        accumulator = event_accumulator.EventAccumulator(str(path), size_guidance={"tensors": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["tensors"])
    assert "netviz/gradient_flow" in tags, tags


def test_readme_shows_the_benchmark_table_of_docs_benchmarks():
    benchmarks = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    table = [line for line in benchmarks.splitlines() if line.startswith("|")]
    assert len(table) >= 8
    for line in table:
        assert line in README, f"README's benchmark table is out of date: {line[:80]}"


def test_readme_screenshot_exists():
    assert (REPO / "docs" / "screenshots" / "netviz.png").stat().st_size > 10_000
    assert "docs/screenshots/netviz.png" in README
