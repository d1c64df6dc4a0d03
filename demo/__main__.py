"""``python -m demo --logdir DIR``: train every demo on CPU and write one run each.

Then ``tensorboard --logdir DIR`` and open the NetViz tab. ``--quick`` trains
for a few seconds each (used by the tests); ``--only`` picks demos.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

DEMOS = {
    "keras": "demo.keras_digits",
    "lightning": "demo.lightning_reversal",
    "vanishing": "demo.torch_vanishing",
    "exploding": "demo.torch_exploding",
}


def main(argv: list[str] | None = None) -> list[Path]:
    """Run the chosen demos; returns the run directories written."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, required=True, help="where to write the runs")
    parser.add_argument("--quick", action="store_true", help="train only briefly (for tests)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(DEMOS),
        default=list(DEMOS),
        help="which demos to run (default: all)",
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    runs = []
    for name in args.only:
        runs.append(importlib.import_module(DEMOS[name]).run(args.logdir, quick=args.quick))
    print(
        f"all demos done in {time.monotonic() - start:.0f}s; now run:\n  tensorboard --logdir {args.logdir}",
        flush=True,
    )
    return runs


if __name__ == "__main__":
    main()
