"""A real ``tensorboard`` process for integration and browser tests.

It binds 127.0.0.1 on a free port, is waited for with a bounded timeout and is
always stopped by its PID.

Example (not run as a doctest: it starts a process)::

    with TensorBoardServer(logdir, load_fast=False) as server:
        urllib.request.urlopen(server.url + "/data/plugins_listing")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoardServer:
    """Starts ``tensorboard --logdir`` and stops it on exit.

    Args:
        logdir: the directory to serve.
        load_fast: True for the default Rust data server, False for ``--load_fast=false``.
        extra_args: more command-line flags, e.g. ``["--samples_per_plugin=netviz=0"]``.
        timeout: seconds to wait for the server to answer and load the logs.
        module: the module run as ``python -m`` (default ``tensorboard.main``).
        env: more environment variables for the process (e.g. ``S3_ENDPOINT``).
    """

    def __init__(
        self,
        logdir: str | Path,
        *,
        load_fast: bool = True,
        extra_args=(),
        timeout: float = 120.0,
        module: str = "tensorboard.main",
        env: dict[str, str] | None = None,
    ):
        self.logdir = str(logdir)
        self.module = module
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.load_fast = load_fast
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        # The server's output goes beside, not into, the served logdir.
        self.log_path = Path(tempfile.gettempdir()) / f"netviz-tensorboard-{self.port}.log"

    def __enter__(self) -> TensorBoardServer:
        command = [
            sys.executable,
            "-m",
            self.module,
            "--logdir",
            self.logdir,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--load_fast",
            "true" if self.load_fast else "false",
            "--reload_interval",
            "1",
            *self.extra_args,
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **self.extra_env}
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def get(self, path: str) -> tuple[int, bytes, str]:
        """GET ``path`` (relative to the server root); returns status, body, content type."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("Content-Type", "")

    def wait_for(self, predicate, what: str, timeout: float | None = None) -> None:
        """Poll ``predicate()`` until true; fail with ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tensorboard exited early:\n{self.log_path.read_text(errors='replace')}")
            try:
                if predicate():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        output = self.log_path.read_text(errors="replace")[-4000:]
        raise TimeoutError(f"timed out waiting for {what}:\n{output}")

    def _wait_until_ready(self) -> None:
        self.wait_for(lambda: self.get("/data/plugins_listing")[0] == 200, "tensorboard to answer")

    def stop(self) -> None:
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
