"""One progress line every few steps while a demo trains.

Example:
    >>> progress = Progress("example", total=2, every=1)
    >>> progress.update(1, loss=0.5)  # doctest: +ELLIPSIS
    [example] step 1/2 ...
"""

from __future__ import annotations

import time


class Progress:
    """Prints ``[name] step k/total  loss ...  elapsed`` while a demo trains."""

    def __init__(self, name: str, total: int, every: int = 25) -> None:
        self.name, self.total, self.every = name, total, every
        self.start = time.monotonic()

    def update(self, step: int, **metrics: float) -> None:
        """Report ``step`` (1-based) with some metrics."""
        if step % self.every and step != self.total:
            return
        shown = "  ".join(f"{key} {value:.4g}" for key, value in metrics.items())
        print(
            f"[{self.name}] step {step}/{self.total}  {shown}  {time.monotonic() - self.start:.1f}s",
            flush=True,
        )

    def done(self, message: str) -> None:
        """Report the end of the demo."""
        print(f"[{self.name}] done in {time.monotonic() - self.start:.1f}s: {message}", flush=True)
