"""The writer never stalls or kills training: failures are clear at construction, later ones warn once.

Tests run as root, so permission bits stop nothing: unwritable places are a
path under a regular file and kernel file systems; a full disk is the real
``/dev/full`` device and a real file-size limit in a child process.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import warnings

import numpy as np
import pytest

from tb_netviz.summary import EventWriter, LogDirError, NetVizWriter, NetVizWriteWarning
from tb_netviz.summary.encoders import scalar_value
from tests.summary_format.child_process import run_python, run_python_json
from tests.summary_format.event_records import event_files, logged_steps, read_events


def write_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, NetVizWriteWarning)]


@pytest.fixture
def caught():
    """Every warning raised on any thread while the test runs."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield records


@pytest.mark.parametrize(
    "make_log_dir",
    [
        pytest.param(lambda tmp: _touch(tmp / "taken"), id="a-regular-file"),
        pytest.param(lambda tmp: _touch(tmp / "file") / "run", id="under-a-regular-file"),
        pytest.param(lambda tmp: "/proc/self", id="existing-directory-without-write-access"),
        pytest.param(lambda tmp: "/proc/netviz-run", id="cannot-be-created"),
    ],
)
def test_unwritable_log_dir_raises_log_dir_error_naming_it(tmp_path, make_log_dir):
    log_dir = str(make_log_dir(tmp_path))
    with pytest.raises(LogDirError) as error:
        NetVizWriter(log_dir)
    assert repr(log_dir) in str(error.value)
    assert isinstance(error.value, OSError) and error.value.errno


def _touch(path):
    path.write_text("not a directory")
    return path


def test_missing_log_dir_is_created(tmp_path):
    with NetVizWriter(tmp_path / "a" / "b") as writer:
        writer.scalar(0, "loss", 1.0)
    assert logged_steps(tmp_path / "a" / "b") == [0]


def test_directory_removed_mid_run_warns_once_keeps_training_and_counts_dropped(tmp_path, caught):
    log_dir = tmp_path / "run"
    writer = NetVizWriter(log_dir)
    writer.scalar(0, "loss", 1.0)
    writer.flush()
    shutil.rmtree(log_dir)
    for step in range(1, 6):
        assert writer.scalar(step, "loss", float(step))  # queued: the training thread never sees the failure
    writer.flush()
    assert writer.dropped == 5
    for step in range(6, 9):
        writer.histogram(step, "h", np.ones(10))
    writer.flush()
    assert writer.dropped == 8
    [failure] = write_warnings(caught)
    assert "was removed" in failure and "training goes on" in failure
    writer.close()
    assert write_warnings(caught)[-1].startswith(f"tb-netviz dropped 8 summaries for {log_dir}")
    assert caught[-1].filename == __file__  # NetVizWriter.close -> EventWriter.close: still the caller's line
    assert not log_dir.exists()  # the writer does not resurrect a directory the user deleted


def test_disk_full_warns_once_keeps_training_counts_dropped_and_leaves_a_readable_file(tmp_path, caught):
    writer = NetVizWriter(tmp_path)
    writer.scalar(0, "loss", 1.0)
    writer.flush()
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, writer.events._fd)  # from now on every write fails with ENOSPC
        for step in range(1, 11):
            writer.attention(step, "attn", np.ones((1, 8, 8)))
            writer.flush()
        assert writer.dropped == 10
        [failure] = write_warnings(caught)
        assert "No space left on device" in failure
        writer.close()
    finally:
        os.close(full)
    assert "dropped 10 summaries" in write_warnings(caught)[-1]
    assert logged_steps(tmp_path) == [0]


FILE_SIZE_LIMIT_CHILD = """
    import json, resource, signal, sys, warnings
    import numpy as np
    from tb_netviz.summary import NetVizWriter

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    caught = []
    warnings.simplefilter("always")
    warnings.showwarning = lambda message, category, *rest, **kw: caught.append(str(message))
    writer = NetVizWriter(sys.argv[1])
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    queued = steps = 0
    for step in range(30):
        queued += writer.attention(step, "attn", np.full((1, 64, 64), step, np.float32))  # 16 KB
        writer.flush()
        steps += 1
    dropped_before_close = writer.dropped
    writer.close()
    print(json.dumps({"queued": queued, "steps": steps, "dropped": dropped_before_close,
                      "warnings": caught}))
"""


def test_file_size_limit_cuts_no_record_in_half_and_counts_every_dropped_summary(tmp_path):
    limit = 100_000
    result = run_python_json(FILE_SIZE_LIMIT_CHILD, str(tmp_path), str(limit))
    assert result["steps"] == 30 and result["queued"] == 30
    [path] = event_files(tmp_path)
    assert os.path.getsize(path) <= limit
    written = [event.step for event in read_events(path)[1:]]  # raises on a half-written record
    assert written == list(range(len(written))) and 0 < len(written) < 30
    assert result["dropped"] == 30 - len(written)
    failure, total = result["warnings"]
    assert "File too large" in failure
    assert total.startswith(f"tb-netviz dropped {result['dropped']} summaries")


def test_a_summary_that_fails_to_encode_is_counted_and_the_writer_goes_on(tmp_path, caught):
    def broken():
        raise RuntimeError("boom")

    with EventWriter(tmp_path) as writer:
        writer.add(broken, step=0)
        writer.add(lambda: [scalar_value("loss", 1.0)], step=1)
        writer.flush()
        assert writer.dropped == 1
    assert logged_steps(tmp_path) == [1]
    assert any("RuntimeError: boom" in message for message in write_warnings(caught))


class GatedWriter:
    """An EventWriter whose thread is stuck on a slow summary until ``release()``."""

    def __init__(self, log_dir, max_queue, essential_timeout, **options):
        self.gate = threading.Event()
        self.writer = EventWriter(
            log_dir, max_queue=max_queue, essential_timeout=essential_timeout, **options
        )
        started = threading.Event()

        def slow():
            started.set()
            self.gate.wait(30)
            return [scalar_value("slow", 0.0)]

        self.writer.add(slow, step=0)
        assert started.wait(10)
        for step in range(1, max_queue + 1):
            assert self.writer.add(lambda: [scalar_value("loss", 1.0)], step=step)

    def release(self):
        self.gate.set()


def test_full_queue_drops_an_ordinary_summary_at_once_and_counts_it(tmp_path, caught):
    gated = GatedWriter(tmp_path, max_queue=2, essential_timeout=5.0)
    start = time.perf_counter()
    assert not gated.writer.add(lambda: [scalar_value("loss", 1.0)], step=3)
    assert not gated.writer.add(lambda: [scalar_value("loss", 1.0)], step=4)
    assert time.perf_counter() - start < 0.5
    assert gated.writer.dropped == 2
    [warning] = write_warnings(caught)
    assert "fell behind" in warning
    assert caught[0].filename == __file__  # attributed to the caller's line
    gated.release()
    gated.writer.close()
    assert logged_steps(tmp_path) == [0, 1, 2]


def test_queued_array_bytes_are_bounded_too_and_free_again_once_written(tmp_path, caught):
    writer = EventWriter(tmp_path, max_queue_bytes=1000)
    gate = threading.Event()
    writer.add(lambda: gate.wait(10) and [scalar_value("gate", 0.0)], step=0)
    assert writer.add(lambda: [scalar_value("a", 1.0)], step=1, nbytes=600)
    assert not writer.add(lambda: [scalar_value("b", 1.0)], step=2, nbytes=600)  # 1200 > 1000
    assert writer.add(lambda: [scalar_value("c", 1.0)], step=3, nbytes=400)  # exactly 1000
    assert writer.add(
        lambda: [scalar_value("alert", 1.0)], step=4, essential=True
    )  # never held back by bytes
    assert writer.dropped == 1 and "fell behind" in write_warnings(caught)[0]
    gate.set()
    writer.flush()
    assert writer.add(lambda: [scalar_value("d", 1.0)], step=5, nbytes=5000)  # alone, larger than the bound
    writer.close()
    assert logged_steps(tmp_path) == [0, 1, 3, 4, 5]


def test_netviz_writer_counts_its_arrays_against_the_byte_bound(tmp_path, caught):
    with NetVizWriter(tmp_path, max_queue_bytes=1) as writer:
        gate = threading.Event()
        writer.events.add(lambda: gate.wait(10) and [scalar_value("gate", 0.0)], step=0)
        weights = np.ones((1, 4, 4), np.float32)
        assert writer.attention(1, "attn", weights)  # alone in the byte budget: taken
        assert not writer.histogram(2, "h", np.ones(10))
        assert not writer.feature_maps(3, "conv", np.ones((1, 4, 4)))
        assert writer.scalar(4, "loss", 1.0)  # no array data
        gate.set()
    assert writer.dropped == 2
    assert logged_steps(tmp_path) == [0, 1, 4]


def test_full_queue_makes_an_essential_summary_wait_for_room(tmp_path):
    gated = GatedWriter(tmp_path, max_queue=2, essential_timeout=10.0)
    threading.Timer(0.3, gated.release).start()
    start = time.perf_counter()
    assert gated.writer.add(lambda: [scalar_value("alert", 1.0)], step=3, essential=True)
    assert 0.2 < time.perf_counter() - start < 9
    gated.writer.close()
    assert gated.writer.dropped == 0
    assert logged_steps(tmp_path) == [0, 1, 2, 3]


def test_essential_summary_is_dropped_and_counted_after_its_timeout(tmp_path, caught):
    gated = GatedWriter(tmp_path, max_queue=1, essential_timeout=0.3)
    start = time.perf_counter()
    assert not gated.writer.add(lambda: [scalar_value("alert", 1.0)], step=2, essential=True)
    assert time.perf_counter() - start >= 0.25
    assert gated.writer.dropped == 1
    gated.release()
    gated.writer.close()
    assert logged_steps(tmp_path) == [0, 1]


def test_close_returns_within_its_timeout_when_the_writer_is_stuck_and_the_data_still_lands(tmp_path):
    gated = GatedWriter(tmp_path, max_queue=2, essential_timeout=1.0)
    gated.writer._flush_secs = 0.2
    start = time.perf_counter()
    gated.writer.close(timeout=0.3)
    assert time.perf_counter() - start < 2
    assert gated.writer.add(lambda: [scalar_value("late", 1.0)], step=9) is False
    gated.release()
    gated.writer._thread.join(10)
    assert not gated.writer._thread.is_alive()
    assert logged_steps(tmp_path) == [0, 1, 2]


def test_dropped_is_exact_when_many_threads_log_into_a_tiny_queue(tmp_path, caught):
    writer = EventWriter(tmp_path, max_queue=4)
    queued = []

    def log(thread: int):
        results = [writer.add(lambda: [scalar_value("x", 1.0)], step=thread * 1000 + i) for i in range(300)]
        queued.append(sum(results))

    threads = [threading.Thread(target=log, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert sum(queued) + writer.dropped == 1200
    assert len(logged_steps(tmp_path)) == sum(queued)


def test_flush_after_a_write_failure_returns_promptly_and_later_writes_go_on_being_counted(tmp_path):
    writer = NetVizWriter(tmp_path / "run")
    shutil.rmtree(tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetVizWriteWarning)
        for step in range(3):
            writer.scalar(step, "loss", 1.0)
            start = time.perf_counter()
            writer.flush()
            assert time.perf_counter() - start < 5
            assert writer.dropped == step + 1
        writer.close()


def test_context_manager_writes_everything_and_closes_even_when_the_body_raises(tmp_path):
    with pytest.raises(KeyError):
        with NetVizWriter(tmp_path) as writer:
            for step in range(3):
                writer.scalar(step, "loss", float(step))
            raise KeyError("training crashed")
    assert logged_steps(tmp_path) == [0, 1, 2]
    assert writer.scalar(3, "loss", 3.0) is False  # closed: nothing more is written
    writer.close()
    writer.flush()
    assert logged_steps(tmp_path) == [0, 1, 2]


@pytest.mark.parametrize(
    "option",
    [
        {"max_queue": 0},
        {"max_queue": 2.5},
        {"max_queue_bytes": 0},
        {"flush_secs": 0},
        {"essential_timeout": -1},
    ],
    ids=str,
)
def test_writer_options_out_of_range_are_rejected_at_construction(tmp_path, option):
    [(name, _)] = option.items()
    with pytest.raises(ValueError, match=name):
        NetVizWriter(tmp_path, **option)
    assert event_files(tmp_path) == []


EXIT_CHILD = """
    import sys
    from tb_netviz.summary import NetVizWriter
    writer = NetVizWriter(sys.argv[1], flush_secs=60)
    for step in range(5):
        writer.scalar(step, "loss", float(step))
    if sys.argv[2] == "sys.exit":
        sys.exit(3)
    if sys.argv[2] == "exception":
        raise RuntimeError("training crashed")
    print("{}")
"""


@pytest.mark.parametrize("how", ["end-of-script", "sys.exit", "exception"])
def test_data_logged_without_close_is_on_disk_after_the_interpreter_exits(tmp_path, how):
    finished = run_python(EXIT_CHILD, str(tmp_path), how)
    assert finished.returncode == {"end-of-script": 0, "sys.exit": 3, "exception": 1}[how], finished.stderr
    assert logged_steps(tmp_path) == [0, 1, 2, 3, 4]
