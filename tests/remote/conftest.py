"""Fixtures of the remote log directory tests: a real S3-protocol server, training runs in child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tensorboard.compat.proto import event_pb2

from tests.remote.s3_server import S3Server
from tests.summary_format.event_records import read_events

REPO = Path(__file__).resolve().parents[2]
BUCKET = "netviz"


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free port with the bucket ``netviz``; stopped by PID after the module."""
    with S3Server() as server:
        server.create_bucket(BUCKET)
        yield server


def child_env(server: S3Server | None, **extra: str) -> dict[str, str]:
    """The environment of a child that writes to ``server`` (no AWS settings of this machine leak in)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "S3_", "FSSPEC_"))}
    env.update({"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"})
    if server is not None:
        env.update(server.env)
    env.update(extra)
    return env


def train_command(kind: str, log_dir: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.remote.train_child", kind, log_dir, *args]


def train(kind: str, log_dir: str, *args: str, env: dict[str, str], timeout: float = 240.0) -> dict:
    """Run one training child to the end; returns the JSON summary it prints last."""
    finished = subprocess.run(
        train_command(kind, log_dir, *args),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert finished.returncode == 0, f"{kind} run failed ({finished.returncode}):\n{finished.stderr[-4000:]}"
    return json.loads(finished.stdout.strip().splitlines()[-1])


def stored_events(server: S3Server, prefix: str) -> list[tuple[str, list[event_pb2.Event]]]:
    """Each event object under ``prefix`` (name order) with its events, read strictly (whole records only)."""
    files = []
    for key, data in server.objects(BUCKET, prefix).items():
        if "tfevents" not in key:
            continue
        with tempfile.NamedTemporaryFile(suffix=".tfevents") as copy:
            copy.write(data)
            copy.flush()
            files.append((key, read_events(copy.name)))
    return files


def steps_of(files: list[tuple[str, list[event_pb2.Event]]], tag: str) -> list[int]:
    """The steps of ``tag`` in stream order."""
    return [
        event.step for _, events in files for event in events for v in event.summary.value if v.tag == tag
    ]
