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

import sys
import urllib.request

from tests.server_process import ServerProcess

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "netviz-test",
    "AWS_SECRET_ACCESS_KEY": "netviz-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class S3Server(ServerProcess):
    """``python -m moto.server`` on 127.0.0.1; ``endpoint`` is its URL, ``env`` the variables to reach it."""

    name = "moto"

    def __init__(self, port: int | None = None, timeout: float = 60.0) -> None:
        super().__init__(port, timeout)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Credentials and endpoint for s3fs (``AWS_ENDPOINT_URL``) and TensorBoard (``S3_ENDPOINT``)."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, "S3_ENDPOINT": self.endpoint}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=5):
            return True

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
