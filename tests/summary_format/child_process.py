"""Run a Python snippet in a fresh interpreter that imports this checkout, and read its JSON answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run ``code`` with ``args`` as ``sys.argv[1:]``; returns the finished process, whatever its status."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_python_json(code: str, *args: str, timeout: float = 60.0) -> Any:
    """Run ``code`` and parse the last line it prints as JSON; fails with its stderr if it did not succeed."""
    finished = run_python(code, *args, timeout=timeout)
    assert finished.returncode == 0, f"child failed ({finished.returncode}):\n{finished.stderr[-3000:]}"
    return json.loads(finished.stdout.strip().splitlines()[-1])
