"""A TensorBoard event-file writer that never stalls or kills training.

Log calls put a small work item on a bounded queue and return; a daemon
thread encodes the protos, frames the records and writes them.

The queue is bounded twice: by ``max_queue`` items and by ``max_queue_bytes``
of array data waiting to be encoded (the bytes each call declares), so a slow
disk cannot make it hold gigabytes of attention matrices. Policy when it is
full (the disk is slower than the logging): an ordinary summary is dropped at
once and counted, so the training thread never waits; an *essential* one
(alerts, small) is not held to the byte bound and waits up to
``essential_timeout`` seconds for an item's room before it too is dropped and
counted.

Failures: a log directory that cannot be created or written raises
``LogDirError`` at construction. A later write failure (disk full, file size
limit, directory removed) warns once, training goes on, the failing summaries
are counted in ``dropped``, and ``close()`` warns with the total. The file
stays readable: a partly written record is cut off again. After a failed
write the next flush tries again (a full disk may get room), except when the
event file was removed, which is final for this writer.

Processes: writers are flushed and closed at interpreter exit. In a forked
child (DataLoader workers, DDP launched by fork) a writer inherited from the
parent writes nothing and never touches the parent's file (it warns once if
the child logs to it); create a new writer in the child if it must log.

Example:
    >>> import tempfile
    >>> from tb_netviz.summary.encoders import scalar_value
    >>> with EventWriter(tempfile.mkdtemp()) as writer:
    ...     writer.add(lambda: [scalar_value("loss", 0.5)], step=1)
    True
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import operator
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable

from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_netviz.summary.event_encoding import event_chunks, record_chunks
from tb_netviz.summary.records import frame_record
from tb_netviz.summary.user_warnings import warn_from_caller

BuildValues = Callable[[], Iterable[summary_pb2.Summary.Value]]

_FLUSH_BYTES = 1 << 20
_HAS_WRITEV = hasattr(os, "writev")
_IOV_MAX = 1024  # the smallest limit of common systems (Linux, macOS)
_live_writers: weakref.WeakSet[EventWriter] = weakref.WeakSet()
_file_counter = iter(range(1 << 62))


class LogDirError(OSError):
    """The log directory cannot be created or written."""


class NetVizWriteWarning(RuntimeWarning):
    """Summaries were dropped because writing failed or the writer fell behind."""


class _FileRemoved(OSError):
    """The event file was unlinked (its directory deleted) while the writer had it open."""


class EventWriter:
    """Writes TensorBoard events to a new file in ``log_dir`` from a background thread.

    Args:
        log_dir: the run directory; created if missing.
        max_queue: work items that may wait for the writer thread (default 1024).
        max_queue_bytes: array bytes (as declared by ``add(..., nbytes=)``) that may
            wait for the writer thread (default 256 MiB); one item larger than this
            is still taken when nothing else waits.
        flush_secs: the longest time written data stays in memory (default 5).
        essential_timeout: seconds an essential item waits for queue room (default 10).
        filename_suffix: appended to the event file name (default ``.netviz``),
            so the file never collides with another writer's in the same run.

    Raises:
        LogDirError: ``log_dir`` cannot be created or written.
        ValueError: an option outside its range.

    Example:
        >>> import tempfile
        >>> writer = EventWriter(tempfile.mkdtemp(), max_queue=8)
        >>> writer.close()
        >>> writer.dropped
        0
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        max_queue: int = 1024,
        max_queue_bytes: int = 256 << 20,
        flush_secs: float = 5.0,
        essential_timeout: float = 10.0,
        filename_suffix: str = ".netviz",
    ) -> None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue must be an int >= 1, got {max_queue!r}")
        if isinstance(max_queue_bytes, bool) or not isinstance(max_queue_bytes, int) or max_queue_bytes < 1:
            raise ValueError(f"max_queue_bytes must be an int >= 1, got {max_queue_bytes!r}")
        if not flush_secs > 0:
            raise ValueError(f"flush_secs must be > 0, got {flush_secs!r}")
        if not essential_timeout >= 0:
            raise ValueError(f"essential_timeout must be >= 0 seconds, got {essential_timeout!r}")
        self.log_dir = os.fspath(log_dir)
        self._owner_pid = os.getpid()
        self._flush_secs = flush_secs
        self._essential_timeout = essential_timeout
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._max_queue_bytes = max_queue_bytes
        self._queued_bytes = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_events = 0
        self._size = self._committed = 0
        self._file_removed = False
        self._described_tags: set[str] = set()
        self._lock = threading.Lock()
        self._dropped = 0
        self._write_error: str | None = None
        self._warned_full = False
        self._warned_fork = False
        self._closed = False
        self._open_sink(filename_suffix)
        self._thread = threading.Thread(target=self._run, name="tb-netviz-writer", daemon=True)
        self._thread.start()
        _live_writers.add(self)

    @property
    def dropped(self) -> int:
        """How many summaries were not written (queue full, write failure or closed too early)."""
        return self._dropped

    def add(
        self,
        build_values: BuildValues,
        step: int,
        wall_time: float | None = None,
        *,
        essential: bool = False,
        nbytes: int = 0,
    ) -> bool:
        """Queue one event; ``build_values`` runs on the writer thread.

        ``nbytes`` is the size of the array data ``build_values`` holds, counted
        against ``max_queue_bytes`` until it is encoded. Returns True if queued,
        False if dropped (see the queue policy above), if the writer is closed,
        or in a forked child.

        Raises:
            TypeError, ValueError: ``step`` is not an int64 integer.
        """
        if os.getpid() != self._owner_pid:
            self._warn_inherited()
            return False
        if self._closed:
            return False
        item = (build_values, checked_step(step), time.time() if wall_time is None else float(wall_time))
        nbytes = 0 if essential else max(int(nbytes), 0)
        try:
            if not self._reserve_bytes(nbytes):
                raise queue.Full
            try:
                if essential:
                    self._queue.put((*item, nbytes), timeout=self._essential_timeout)
                else:
                    self._queue.put_nowait((*item, nbytes))
            except queue.Full:
                self._release_bytes(nbytes)
                raise
            return True
        except queue.Full:
            self._count_dropped(1)
            with self._lock:
                first, self._warned_full = not self._warned_full, True
            if first:
                warn_from_caller(
                    f"tb-netviz: the writer for {self.log_dir} fell behind and is dropping "
                    "summaries; training goes on (log less often to avoid this)",
                    NetVizWriteWarning,
                )
            return False

    def flush(self, timeout: float | None = 30.0) -> None:
        """Write everything queued so far to disk; waits at most ``timeout`` seconds.

        Never raises for a write failure: that is warned about once and counted
        in ``dropped``, which is up to date when ``flush`` returns.
        """
        if self._closed or os.getpid() != self._owner_pid or not self._thread.is_alive():
            return
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Write what is queued, stop the thread and close the file.

        Warns with the number of dropped summaries if any. Calling it again,
        or in a forked child, does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._owner_pid:
            return
        _live_writers.discard(self)
        # With the queue full the stop marker cannot go in; the thread also stops on its
        # own once it has drained the queue, because _closed is set.
        with contextlib.suppress(queue.Full):
            if self._thread.is_alive():
                self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._count_dropped(_discard_queued(self._queue))
        self._finish_sink(timeout)
        if self._dropped:
            reason = f": {self._write_error}" if self._write_error else ""
            warn_from_caller(
                f"tb-netviz dropped {self._dropped} summaries for {self.log_dir}{reason}",
                NetVizWriteWarning,
            )

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        last_flush = time.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self._flush_secs)
                except queue.Empty:
                    if self._closed:
                        break
                    item = "tick"
                if item is None:
                    break
                if isinstance(item, threading.Event):
                    self._flush_pending()
                    item.set()
                    last_flush = time.monotonic()
                    continue
                if item != "tick":
                    *work, nbytes = item
                    self._encode(*work)
                    self._release_bytes(nbytes)
                if self._pending_bytes >= _FLUSH_BYTES or time.monotonic() - last_flush >= self._flush_secs:
                    self._flush_pending()
                    last_flush = time.monotonic()
        finally:
            self._flush_pending()
            self._close_sink()

    def _open_sink(self, filename_suffix: str) -> None:
        """Create the event file and write its first record; raises ``LogDirError``."""
        self.path = os.path.join(self.log_dir, _event_file_name(filename_suffix))
        self._fd = _open_event_file(self.log_dir, self.path)
        try:
            self._write_now([_file_version_event()])
        except OSError as error:
            os.close(self._fd)
            raise _log_dir_error(self.log_dir, error) from error

    def _close_sink(self) -> None:
        """On the writer thread, after its last write."""
        os.close(self._fd)

    def _finish_sink(self, timeout: float | None) -> None:
        """In ``close()``, after the writer thread stopped: nothing more for a local file."""

    def _encode(self, build_values: BuildValues, step: int, wall_time: float) -> None:
        try:
            values = [self._serialize(value) for value in build_values()]
            chunks = record_chunks(event_chunks(wall_time, step, values))
        except Exception as error:  # a bad summary must not stop the writer thread
            self._fail(f"a summary could not be encoded ({type(error).__name__}: {error})", 1)
            return
        self._pending += chunks
        self._pending_bytes += sum(len(chunk) for chunk in chunks)
        self._pending_events += 1

    def _serialize(self, value: summary_pb2.Summary.Value) -> bytes:
        # TensorBoard keeps only the first metadata of a tag, so later events leave
        # it out (as tf.summary does): a 500-layer table's names are written once.
        if value.tag in self._described_tags:
            value.ClearField("metadata")
        elif value.HasField("metadata"):
            self._described_tags.add(value.tag)
        return value.SerializeToString()

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        data, events = self._pending, self._pending_events
        self._pending, self._pending_bytes, self._pending_events = [], 0, 0
        self._write_pending(data, events)

    def _write_pending(self, data: list[bytes], events: int) -> None:
        if self._file_removed:
            self._count_dropped(events)
            return
        try:
            if os.fstat(self._fd).st_nlink == 0:
                self._file_removed = True
                raise _FileRemoved(f"{self.path} was removed (was its directory deleted?)")
            self._write_now(data)
        except Exception as error:  # disk full, size limit, removed file: never kill training
            self._cut_partial_record()
            removed = isinstance(error, _FileRemoved)
            self._fail(str(error) if removed else f"writing {self.path} failed ({error})", events)

    def _write_now(self, chunks: list[bytes]) -> None:
        remaining = collections.deque(chunks)
        while remaining:
            written = _write_some(self._fd, remaining)
            self._size += written
            while remaining and written >= len(remaining[0]):
                written -= len(remaining.popleft())
            if written:
                remaining[0] = memoryview(remaining[0])[written:]
        self._committed = self._size

    def _cut_partial_record(self) -> None:
        # A record written in part would make every later record unreadable.
        if self._size != self._committed:
            try:
                os.ftruncate(self._fd, self._committed)
                self._size = self._committed
            except OSError:
                pass

    def _fail(self, reason: str, count: int) -> None:
        self._described_tags.clear()  # the lost events may have carried a tag's only metadata
        self._count_dropped(count)
        self._warn_once(reason, "summaries are dropped and training goes on")

    def _warn_once(self, reason: str, consequence: str) -> None:
        """The first failure of this writer is warned about; later ones only counted."""
        with self._lock:
            first = self._write_error is None
            if first:
                self._write_error = reason
        if first:
            warn_from_caller(f"tb-netviz: {reason}; {consequence}", NetVizWriteWarning)

    def _reserve_bytes(self, nbytes: int) -> bool:
        with self._lock:
            if nbytes and self._queued_bytes and self._queued_bytes + nbytes > self._max_queue_bytes:
                return False
            self._queued_bytes += nbytes
            return True

    def _release_bytes(self, nbytes: int) -> None:
        with self._lock:
            self._queued_bytes -= nbytes

    def _count_dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count

    def _warn_inherited(self) -> None:
        if not self._warned_fork:
            self._warned_fork = True
            warn_from_caller(
                f"tb-netviz: this writer for {self.log_dir} belongs to process {self._owner_pid} and "
                f"writes nothing in forked process {os.getpid()}; create a new writer here to log",
                NetVizWriteWarning,
            )


def checked_step(step: int) -> int:
    """``step`` as a Python int, if it is an integer that fits TensorBoard's int64 step.

    >>> checked_step(7)
    7

    Raises:
        TypeError: not an integer (floats, strings and bools are refused rather than rounded).
        ValueError: outside the int64 range.
    """
    if isinstance(step, bool):
        raise TypeError(f"step must be an int, got {step!r}")
    try:
        value = operator.index(step)
    except TypeError:
        raise TypeError(f"step must be an int, got {type(step).__name__} {step!r}") from None
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f"step must fit in 64 bits, got {value}")
    return value


def _write_some(fd: int, chunks: collections.deque) -> int:
    """One write of the first chunks; returns the bytes written (the kernel may take fewer)."""
    if _HAS_WRITEV:
        return os.writev(fd, list(itertools.islice(chunks, _IOV_MAX)))
    return os.write(fd, b"".join(chunks))


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
        raise _log_dir_error(log_dir, error) from error


def _log_dir_error(log_dir: str, error: OSError) -> LogDirError:
    reason = error.strerror or str(error)
    return LogDirError(error.errno, f"tb-netviz cannot write event files to log_dir {log_dir!r}: {reason}")


def _file_version_event() -> bytes:
    event = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    return frame_record(event.SerializeToString())


def _discard_queued(work: queue.Queue) -> int:
    """Empty a stopped writer's queue; returns how many events were in it."""
    count = 0
    while True:
        try:
            item = work.get_nowait()
        except queue.Empty:
            return count
        if isinstance(item, threading.Event):
            item.set()
        elif isinstance(item, tuple):
            count += 1


def _close_all_at_exit() -> None:
    for writer in list(_live_writers):
        try:
            writer.close(timeout=10.0)
        except Exception:  # one writer's failure must not keep the others from closing
            pass


def _forget_writers_in_child() -> None:
    # The child shares the parent's file descriptor and has no writer thread:
    # it must neither write nor close the parent's writers at its exit.
    _live_writers.clear()


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_forget_writers_in_child)
