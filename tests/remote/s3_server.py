"""A real S3-protocol server for the remote log directory tests: ``moto`` in server mode.

It is started as a process on a free port of 127.0.0.1, waited for with a
bounded timeout and stopped by its PID. ``S3Server.env`` is the environment a
writer (s3fs: ``AWS_ENDPOINT_URL``) and TensorBoard (boto3: ``S3_ENDPOINT``)
need to reach it.

Example (not run as a doctest: it starts a process)::

    with S3Server() as server:
        server.create_bucket("runs")
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.tb_server import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "netviz-test",
    "AWS_SECRET_ACCESS_KEY": "netviz-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class S3Server:
    """``python -m moto.server`` on 127.0.0.1; ``endpoint`` is its URL, ``env`` the variables to reach it."""

    def __init__(self, port: int | None = None, timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"netviz-moto-{self.port}.log"

    @property
    def env(self) -> dict[str, str]:
        """Credentials and endpoint for s3fs (``AWS_ENDPOINT_URL``) and TensorBoard (``S3_ENDPOINT``)."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, "S3_ENDPOINT": self.endpoint}

    def __enter__(self) -> S3Server:
        self._log = open(self.log_path, "wb")
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self):
        """A boto3 S3 client of this server (the tests' independent view of the bucket)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, name (key) to content."""
        client = self.client()
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(keys)}

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited early:\n{self.log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=5):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"moto server did not answer on {self.endpoint}")

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
