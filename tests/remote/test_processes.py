"""Processes and a remote store: only the writing process touches it, and an unclosed writer still
uploads everything at interpreter exit."""

from __future__ import annotations

import json
import os
import re
import subprocess

from tb_netviz.summary import GRADIENT_FLOW_TAG, NetVizWriter
from tests.remote.conftest import BUCKET, REPO, child_env, steps_of, stored_events, train, train_command

_NAME = re.compile(
    r"events\.out\.tfevents\.[0-9.]+\.(?P<host>.+)\.(?P<pid>\d+)\.\d+\.(?P<segment>\d{6})\.netviz$"
)


def test_lightning_ddp_two_processes_only_global_rank_zero_writes_to_the_store(s3):
    finished = subprocess.run(
        train_command("lightning", f"s3://{BUCKET}/ddp", "--steps", "3", "--devices", "2"),
        cwd=REPO,
        env=child_env(s3),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    ranks = [json.loads(line)["rank"] for line in finished.stdout.splitlines() if line.startswith('{"done"')]
    assert sorted(ranks) == [0, 1]
    files = stored_events(s3, "ddp/")
    names = [_NAME.search(name) for name, _ in files]
    assert all(names) and len({match["pid"] for match in names}) == 1
    assert [match["segment"] for match in names] == ["000000"]
    assert steps_of(files, GRADIENT_FLOW_TAG) == [0, 1, 2]


def test_a_forked_child_never_writes_to_the_parents_store(s3, monkeypatch):
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    writer = NetVizWriter(f"s3://{BUCKET}/forked", flush_secs=0.5)
    writer.scalar(0, "loss", 1.0)
    writer.flush()
    pid = os.fork()
    if pid == 0:  # the child: logging to the inherited writer is refused; closing it does nothing
        queued = writer.scalar(1, "loss", 2.0)
        writer.close()
        os._exit(0 if queued is False else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer.scalar(2, "loss", 3.0)
    writer.close()
    files = stored_events(s3, "forked/")
    assert len(files) == 1
    assert [e.step for _, events in files for e in events if e.summary.value] == [0, 2]


def test_a_writer_left_open_uploads_everything_at_interpreter_exit(s3):
    result = train("writer", f"s3://{BUCKET}/unclosed", "--steps", "25", "--no-close", env=child_env(s3))
    assert result["dropped"] == 0
    assert steps_of(stored_events(s3, "unclosed/"), GRADIENT_FLOW_TAG) == list(range(25))
