"""A TensorBoard event-file writer that never stalls or kills training.

Log calls put a small work item on a bounded queue and return; a daemon
thread encodes the protos, frames the records and writes them.

Queue policy when it is full (the disk is slower than the logging): an
ordinary summary is dropped at once and counted, so the training thread never
waits; an *essential* one (alerts) waits up to ``essential_timeout`` seconds
for room before it too is dropped and counted.

Failures: a log directory that cannot be created or written raises
``LogDirError`` at construction. A later write failure (disk full, directory
removed) warns once, training goes on, the failing summaries are counted in
``dropped``, and ``close()`` warns with the total.

Processes: writers are flushed and closed at interpreter exit. In a forked
child (DataLoader workers, DDP launched by fork) a writer inherited from the
parent writes nothing and never touches the parent's file; create a new
writer in the child if it must log.

Example:
    >>> import tempfile
    >>> from tb_netviz.summary.encoders import scalar_value
    >>> with EventWriter(tempfile.mkdtemp()) as writer:
    ...     writer.add(lambda: [scalar_value("loss", 0.5)], step=1)
    True
"""

from __future__ import annotations

import atexit
import os
import queue
import socket
import threading
import time
import warnings
import weakref
from typing import Callable, Iterable

from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_netviz.summary.records import frame_record

BuildValues = Callable[[], Iterable[summary_pb2.Summary.Value]]

_FLUSH_BYTES = 1 << 20
_live_writers: "weakref.WeakSet[EventWriter]" = weakref.WeakSet()
_file_counter = iter(range(1 << 62))


class LogDirError(OSError):
    """The log directory cannot be created or written."""


class NetVizWriteWarning(RuntimeWarning):
    """Summaries were dropped because writing failed or the writer fell behind."""


class EventWriter:
    """Writes TensorBoard events to a new file in ``log_dir`` from a background thread.

    Args:
        log_dir: the run directory; created if missing.
        max_queue: work items that may wait for the writer thread (default 1024).
        flush_secs: the longest time written data stays in memory (default 5).
        essential_timeout: seconds an essential item waits for queue room (default 10).
        filename_suffix: appended to the event file name (default ``.netviz``),
            so the file never collides with another writer's in the same run.

    Raises:
        LogDirError: ``log_dir`` cannot be created or written.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        max_queue: int = 1024,
        flush_secs: float = 5.0,
        essential_timeout: float = 10.0,
        filename_suffix: str = ".netviz",
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        if flush_secs <= 0:
            raise ValueError(f"flush_secs must be > 0, got {flush_secs}")
        self.log_dir = os.fspath(log_dir)
        self.path = os.path.join(self.log_dir, _event_file_name(filename_suffix))
        self._fd = _open_event_file(self.log_dir, self.path)
        self._owner_pid = os.getpid()
        self._flush_secs = flush_secs
        self._essential_timeout = essential_timeout
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._pending = bytearray()
        self._lock = threading.Lock()
        self._dropped = 0
        self._write_error: str | None = None
        self._warned_full = False
        self._closed = False
        self._write_now(_file_version_event())
        self._thread = threading.Thread(target=self._run, name="tb-netviz-writer", daemon=True)
        self._thread.start()
        _live_writers.add(self)

    @property
    def dropped(self) -> int:
        """How many summaries were not written (queue full or write failure)."""
        return self._dropped

    def add(
        self,
        build_values: BuildValues,
        step: int,
        wall_time: float | None = None,
        *,
        essential: bool = False,
    ) -> bool:
        """Queue one event; ``build_values`` runs on the writer thread.

        Returns True if queued, False if dropped (see the queue policy above).
        """
        if self._closed or os.getpid() != self._owner_pid:
            return False
        item = (build_values, int(step), time.time() if wall_time is None else float(wall_time))
        try:
            if essential:
                self._queue.put(item, timeout=self._essential_timeout)
            else:
                self._queue.put_nowait(item)
            return True
        except queue.Full:
            self._count_dropped(1)
            if not self._warned_full:
                self._warned_full = True
                warnings.warn(
                    f"tb-netviz: the writer for {self.log_dir} fell behind and is dropping "
                    "summaries; training goes on (log less often to avoid this)",
                    NetVizWriteWarning,
                    stacklevel=2,
                )
            return False

    def flush(self, timeout: float | None = 30.0) -> None:
        """Write everything queued so far to disk; waits at most ``timeout`` seconds."""
        if self._closed or os.getpid() != self._owner_pid:
            return
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, stop the thread and close the file; warns if anything was dropped."""
        if self._closed:
            return
        if os.getpid() != self._owner_pid:
            self._closed = True
            return
        self.flush(timeout)
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        os.close(self._fd)
        _live_writers.discard(self)
        if self._dropped:
            reason = f": {self._write_error}" if self._write_error else ""
            warnings.warn(
                f"tb-netviz dropped {self._dropped} summaries for {self.log_dir}{reason}",
                NetVizWriteWarning,
                stacklevel=2,
            )

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self._flush_secs)
            except queue.Empty:
                item = "tick"
            if item is None:
                self._flush_pending()
                return
            if isinstance(item, threading.Event):
                self._flush_pending()
                item.set()
                last_flush = time.monotonic()
                continue
            if item != "tick":
                self._encode(*item)
            if len(self._pending) >= _FLUSH_BYTES or time.monotonic() - last_flush >= self._flush_secs:
                self._flush_pending()
                last_flush = time.monotonic()

    def _encode(self, build_values: BuildValues, step: int, wall_time: float) -> None:
        try:
            summary = summary_pb2.Summary(value=list(build_values()))
            event = event_pb2.Event(wall_time=wall_time, step=step, summary=summary)
            self._pending += frame_record(event.SerializeToString())
        except Exception as error:  # a bad summary must not stop the writer thread
            self._fail(f"a summary could not be encoded ({type(error).__name__}: {error})", 1)

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        data, self._pending = bytes(self._pending), bytearray()
        try:
            self._write_now(data)
        except OSError as error:
            self._fail(f"writing {self.path} failed ({error})", _count_records(data))

    def _write_now(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _fail(self, reason: str, count: int) -> None:
        self._count_dropped(count)
        if self._write_error is None:
            self._write_error = reason
            warnings.warn(
                f"tb-netviz: {reason}; summaries are dropped and training goes on",
                NetVizWriteWarning,
                stacklevel=2,
            )

    def _count_dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count


def _event_file_name(suffix: str) -> str:
    return (
        f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}."
        f"{os.getpid()}.{next(_file_counter)}{suffix}"
    )


def _open_event_file(log_dir: str, path: str) -> int:
    try:
        os.makedirs(log_dir, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as error:
        raise LogDirError(
            error.errno, f"tb-netviz cannot write event files to log_dir {log_dir!r}: {error.strerror}"
        ) from error


def _file_version_event() -> bytes:
    event = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    return frame_record(event.SerializeToString())


def _count_records(data: bytes) -> int:
    count, offset = 0, 0
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset : offset + 8], "little")
        offset += 16 + length
        count += 1
    return max(count, 1)


def _close_all_at_exit() -> None:
    for writer in list(_live_writers):
        writer.close(timeout=10.0)


def _forget_writers_in_child() -> None:
    # The child shares the parent's file descriptor; it must not write to it, and
    # the writer thread does not exist in the child.
    for writer in list(_live_writers):
        writer._pending = bytearray()
    _live_writers.clear()


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_forget_writers_in_child)
