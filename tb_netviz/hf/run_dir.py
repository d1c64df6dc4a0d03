"""Where a ``transformers.Trainer`` run's TensorBoard events go, so NetViz joins the same run.

The Trainer's ``TensorBoardCallback`` writes to ``$TENSORBOARD_LOGGING_DIR`` when set,
else to a fresh ``<output_dir>/runs/<date>_<host>`` it creates in its own
``on_train_begin`` (default callbacks run before the user's). That fresh directory is
found as the newest one under ``<output_dir>/runs`` created since the Trainer was
built. Without TensorBoard logging the run goes to ``<output_dir>/netviz``.

Example:
    >>> import tempfile, time
    >>> out = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(out, "runs", "Dec01_host"))
    >>> tensorboard_run_dir(out, since=time.time() - 5).endswith(os.path.join("runs", "Dec01_host"))
    True
    >>> tensorboard_run_dir(out, since=time.time() + 5).endswith("netviz")
    True
"""

from __future__ import annotations

import os


def tensorboard_run_dir(output_dir: str, since: float) -> str:
    """The TensorBoard run directory of a Trainer writing under ``output_dir`` (see the module)."""
    configured = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if configured:
        return os.path.expanduser(configured)
    runs = os.path.join(output_dir, "runs")
    fresh = []
    if os.path.isdir(runs):
        for entry in os.scandir(runs):
            if entry.is_dir() and entry.stat().st_mtime >= since - 1:
                fresh.append((entry.stat().st_mtime, entry.path))
    if fresh:
        return max(fresh)[1]
    return os.path.join(output_dir, "netviz")
