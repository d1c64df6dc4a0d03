"""A writer inherited by a forked process (DataLoader workers, DDP by fork) writes nothing there.

The parent's event file stays complete and readable, whatever the children do
with the inherited writer, and whatever the parent's writer thread was doing
at the moment of the fork.
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from tb_netviz.summary import NetVizWriter
from tests.summary_format.child_process import run_python_json
from tests.summary_format.event_records import logged_steps

OS_FORK_CHILD = """
    import json, os, sys, warnings
    import numpy as np
    from tb_netviz.summary import NetVizWriter

    writer = NetVizWriter(sys.argv[1])
    for step in range(200):  # the writer thread is busy with these while we fork
        writer.histogram(step, "h", np.arange(1000.0))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            queued = [writer.scalar(1000 + step, "child", 1.0) for step in range(3)]
            writer.flush()
            writer.close()
        answer = {"queued": queued, "warnings": [str(w.message) for w in caught]}
        os.write(write_end, json.dumps(answer).encode())
        os.close(write_end)
        sys.exit(0)  # runs the child's atexit handlers: they must not touch the parent's writer
    os.close(write_end)
    child = json.loads(os.read(read_end, 1 << 16))
    _, status = os.waitpid(pid, 0)
    for step in range(200, 210):
        writer.histogram(step, "h", np.arange(1000.0))
    writer.close()
    print(json.dumps({**child, "child_status": status, "dropped": writer.dropped}))
"""


def test_os_fork_child_writes_nothing_and_the_parent_file_stays_complete(tmp_path):
    result = run_python_json(OS_FORK_CHILD, str(tmp_path))
    assert result["child_status"] == 0
    assert result["queued"] == [False, False, False]
    [warning] = result["warnings"]
    assert "writes nothing in forked process" in warning and "create a new writer" in warning
    assert result["dropped"] == 0
    assert logged_steps(tmp_path) == list(range(210))


_inherited: NetVizWriter | None = None


def _log_from_worker(step: int) -> bool:
    queued = _inherited.scalar(step, "worker", 1.0)
    _inherited.flush()
    return queued


def test_multiprocessing_fork_workers_write_nothing_and_the_parent_file_stays_complete(tmp_path):
    global _inherited
    _inherited = NetVizWriter(tmp_path)
    try:
        for step in range(50):
            _inherited.histogram(step, "h", np.arange(1000.0))
        with multiprocessing.get_context("fork").Pool(2) as pool:
            queued = pool.map(_log_from_worker, range(100, 104))
        for step in range(50, 60):
            _inherited.histogram(step, "h", np.arange(1000.0))
        _inherited.close()
    finally:
        _inherited = None
    assert queued == [False] * 4
    assert logged_steps(tmp_path) == list(range(60))


class _LoggingDataset:
    """A map-style dataset that (wrongly) logs through a writer it inherited from the trainer."""

    def __init__(self, writer: NetVizWriter):
        self.writer = writer

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int):
        return np.float32(self.writer.scalar(index, "worker", 1.0))


def test_torch_dataloader_workers_write_nothing_and_the_parent_file_stays_complete(tmp_path):
    import torch.utils.data

    writer = NetVizWriter(tmp_path)
    loader = torch.utils.data.DataLoader(
        _LoggingDataset(writer), batch_size=4, num_workers=2, multiprocessing_context="fork"
    )
    for step, batch in enumerate(loader):
        assert batch.tolist() == [0.0] * 4  # every worker-side log call was refused
        writer.scalar(step, "loss", float(step))
    writer.close()
    assert logged_steps(tmp_path) == [0, 1]
