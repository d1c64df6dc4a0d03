"""A real ``tensorboard`` process for integration and browser tests.

It binds 127.0.0.1 on a free port, is waited for with a bounded timeout and is
always stopped by its PID.

Example (not run as a doctest: it starts a process)::

    with TensorBoardServer(logdir, load_fast=False) as server:
        urllib.request.urlopen(server.url + "/data/plugins_listing")
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.server_process import ServerProcess


class TensorBoardServer(ServerProcess):
    """Starts ``tensorboard --logdir`` and stops it on exit.

    Args:
        logdir: the directory to serve.
        load_fast: True for the default Rust data server, False for ``--load_fast=false``.
        extra_args: more command-line flags, e.g. ``["--samples_per_plugin=netviz=0"]``.
        timeout: seconds to wait for the server to answer and load the logs.
        module: the module run as ``python -m`` (default ``tensorboard.main``).
        env: more environment variables for the process (e.g. ``S3_ENDPOINT``).
    """

    name = "tensorboard"

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
        super().__init__(timeout=timeout)
        self.logdir = str(logdir)
        self.module = module
        self.extra_env = dict(env or {})
        self.url = f"http://127.0.0.1:{self.port}"
        self.load_fast = load_fast
        self.extra_args = list(extra_args)

    def command(self) -> list[str]:
        return [
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

    def process_env(self) -> dict[str, str]:
        return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **self.extra_env}

    def ready(self) -> bool:
        return self.get("/data/plugins_listing")[0] == 200

    def get(self, path: str) -> tuple[int, bytes, str]:
        """GET ``path`` (relative to the server root); returns status, body, content type."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("Content-Type", "")
