"""A server the tests start as a process of its own: TensorBoard, the moto S3 server.

It binds 127.0.0.1 on a free port, its output goes to a log file beside (not
into) any directory it serves, it is waited for with a bounded timeout (failing
with the end of that log), and it is always stopped by its process group, also
when waiting for it failed.

Example (not run as a doctest: it starts a process)::

    class Echo(ServerProcess):
        name = "http.server"

        def command(self):
            return [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(self.port)]

        def ready(self):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5):
                return True

    with Echo() as server:
        ...
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """Starts ``command()`` on entry, waits until ``ready()`` and stops it on exit.

    A subclass names itself (``name``, for the log file and the errors) and gives
    ``command()`` and ``ready()`` (True once it answers; an ``OSError`` or ``ValueError``
    counts as not yet), and ``process_env()`` when the process needs more variables.

    Args:
        port: the port it binds (default a free one).
        timeout: seconds to wait for ``ready()``, and for ``wait_for`` without its own.
    """

    name = "server"

    def __init__(self, port: int | None = None, timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"netviz-{self.name}-{self.port}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def process_env(self) -> dict[str, str] | None:
        """The process's environment: None inherits this one."""
        return None

    def __enter__(self):
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.process_env(),
            start_new_session=True,
        )
        try:
            self.wait_for(self.ready, f"{self.name} to answer")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        """Poll ``predicate()`` until true; fail with ``what`` after ``timeout`` seconds.

        Raises:
            RuntimeError: the process exited (the message holds its output).
            TimeoutError: ``predicate()`` was not true in time (with the end of the output).
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text(errors='replace')}")
            try:
                if predicate():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        output = self.log_path.read_text(errors="replace")[-4000:]
        raise TimeoutError(f"timed out waiting for {what}:\n{output}")

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after 15 s) and close the log. Idempotent."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=15)
        if getattr(self, "_log", None):
            self._log.close()
