"""``RemoteEventWriter``: the event writer for a log directory in object storage (any fsspec URL).

The training thread sees the same writer as for a local directory: ``add``
queues and returns. The writer thread encodes each event and appends its
records to the run's segments in memory (``SegmentBuffer``); the upload
thread (``Uploader``) writes them to the store as event files named
``events.out.tfevents.<time>.<host>.<pid>.<n>.<segment:06d><suffix>``.

Timing: data reaches the store within ``flush_secs`` (default 5 s) plus the
time one upload takes, so that is what TensorBoard waits for (plus its own
reload interval) and what a crash of the training process loses at most.
Objects: the last segment is rewritten whole at most once per ``flush_secs``
while it grows and only when it has new data; it is sealed at
``segment_bytes`` (4 MiB) or ``segment_secs`` (600 s), so a run has at most
``data / segment_bytes + duration / segment_secs + 1`` objects, and each is
written at most ``segment_secs / flush_secs + 2`` times. The price of rewriting
the growing object is upload volume: on average at most about
``segment_bytes / (2 * flush_secs)`` (0.4 MB/s) more than the data itself, less
for a run that logs little (its object is small) or a lot (it is sealed soon).

Failures: a URL whose protocol package is missing, a malformed URL, or a
store that cannot be written at construction (no bucket, no credentials, no
answer within ``open_timeout``) raises before training starts (the first
segment is written then). Later the store may be slow or down: training goes
on, the first failure is warned about once, uploads are retried with backoff
(up to ``retry_max_secs`` apart), and up to ``max_buffer_bytes`` wait in
memory; what does not fit is dropped and counted in ``dropped``, and once
there is room again the count is written to the run as the scalar
``netviz/dropped_summaries``. ``close()`` tries for ``timeout`` seconds to
upload what is left and counts what it could not.

Processes: only the process that created the writer uploads; in a forked
child it writes nothing (as ``EventWriter``). A writer left open is closed at
interpreter exit before the thread pools shut down (the HTTP clients of the
stores need them), so its last data is uploaded too.

Example:
    >>> from tb_netviz.summary.encoders import scalar_value
    >>> with RemoteEventWriter("memory://netviz-doc/remote-writer") as writer:
    ...     writer.add(lambda: [scalar_value("loss", 0.5)], step=1)
    True
    >>> writer.path.startswith("memory://netviz-doc/remote-writer/events.out.tfevents.")
    True
    >>> writer.path.endswith(".000000.netviz")
    True
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

from tb_netviz.summary import encoders
from tb_netviz.summary.event_encoding import event_chunks, record_chunks
from tb_netviz.summary.event_writer import (
    BuildValues,
    EventWriter,
    LogDirError,
    _event_file_name,
    _file_version_event,
    _live_writers,
)
from tb_netviz.summary.metadata import DROPPED_SUMMARIES_TAG
from tb_netviz.summary.remote_store import RemoteStore
from tb_netviz.summary.segments import SegmentBuffer, UploadJob
from tb_netviz.summary.uploader import Uploader


class RemoteEventWriter(EventWriter):
    """Writes TensorBoard events to a remote log directory without blocking the caller.

    Args:
        url: the run directory as a URL (``s3://bucket/runs/exp1``), as ``remote_url`` returns it.
        segment_bytes: an event file (object) is sealed before it grows past this (default 4 MiB).
        segment_secs: ... or once it is this old (default 600).
        max_buffer_bytes: event bytes held in memory until uploaded (default 128 MiB);
            at least ``2 * segment_bytes``.
        retry_max_secs: the longest wait between upload tries while the store fails (default 30).
        open_timeout: seconds the first write (at construction) may take (default 60).
        storage_options: keyword arguments for the fsspec file system (default none).
        **options: ``EventWriter``'s: ``max_queue``, ``max_queue_bytes``, ``flush_secs``
            (here: how often the growing object is written), ``essential_timeout``, ``filename_suffix``.

    Raises:
        LogDirError: the store cannot be written (no bucket, no credentials, no answer).
        MissingProtocolPackageError (an ImportError): the protocol's package is not installed.
        ValueError: an unknown protocol or an option outside its range.

    Example:
        >>> writer = RemoteEventWriter("memory://netviz-doc/options", segment_bytes=1 << 20, flush_secs=1.0)
        >>> writer.close()
        >>> writer.dropped, writer.uploads
        (0, 1)
    """

    def __init__(
        self,
        url: str,
        *,
        segment_bytes: int = 4 << 20,
        segment_secs: float = 600.0,
        max_buffer_bytes: int = 128 << 20,
        retry_max_secs: float = 30.0,
        open_timeout: float = 60.0,
        storage_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        _check_positive_int("segment_bytes", segment_bytes)
        _check_positive_int("max_buffer_bytes", max_buffer_bytes)
        if max_buffer_bytes < 2 * segment_bytes:
            raise ValueError(
                f"max_buffer_bytes must be at least 2 * segment_bytes ({2 * segment_bytes}), "
                f"got {max_buffer_bytes}"
            )
        for name, value in (("segment_secs", segment_secs), ("retry_max_secs", retry_max_secs)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
        if not open_timeout > 0:
            raise ValueError(f"open_timeout must be > 0 seconds, got {open_timeout!r}")
        self._store = RemoteStore(url, storage_options)
        self._buffer_options = {
            "segment_bytes": segment_bytes,
            "segment_secs": segment_secs,
            "max_bytes": max_buffer_bytes,
        }
        self._retry_max_secs = retry_max_secs
        self._open_timeout = open_timeout
        self._last_step = 0
        self._reported_dropped = 0
        super().__init__(url, **options)
        _close_at_thread_shutdown()

    @property
    def uploads(self) -> int:
        """Objects written so far, rewrites of the growing one included."""
        return self._uploader.uploads + 1

    def flush(self, timeout: float | None = 30.0) -> None:
        """Upload everything queued so far; waits at most ``timeout`` seconds in all. Never raises."""
        started = time.monotonic()
        super().flush(timeout)
        if self._closed or not self._thread.is_alive():
            return
        self._uploader.flush(None if timeout is None else max(0.0, timeout - (time.monotonic() - started)))

    def _open_sink(self, filename_suffix: str) -> None:
        self._segments = SegmentBuffer(
            _event_file_name(""), filename_suffix, _file_version_event(), **self._buffer_options
        )
        self.path = self._store.object_url(self._segments.first_name)
        [first] = self._segments.due_uploads(time.monotonic(), 0.0, urgent=True)
        _put_within(self._store, first, self._open_timeout, self.log_dir)
        self._segments.mark_uploaded(first, time.monotonic())
        self._uploader = Uploader(
            self._store,
            self._segments,
            flush_secs=self._flush_secs,
            retry_max_secs=self._retry_max_secs,
            on_failure=self._upload_failed,
        )

    def _encode(self, build_values: BuildValues, step: int, wall_time: float) -> None:
        # Appending to memory is cheap, so each event goes to the segments at once and
        # the flush interval is counted once, by the uploader.
        self._last_step = step
        super()._encode(build_values, step, wall_time)
        self._flush_pending()

    def _write_pending(self, data: list[bytes], events: int) -> None:
        self._report_dropped()
        if self._segments.append(data, events):
            self._uploader.notify()
            return
        mib = self._buffer_options["max_bytes"] / (1 << 20)
        self._fail(
            f"the {mib:g} MiB upload buffer for {self.log_dir} is full (the store is slow or unreachable)",
            events,
        )

    def _report_dropped(self) -> None:
        dropped = self._dropped
        if dropped <= self._reported_dropped:
            return
        value = self._serialize(encoders.scalar_value(DROPPED_SUMMARIES_TAG, dropped))
        if self._segments.append(record_chunks(event_chunks(time.time(), self._last_step, [value])), 0):
            self._reported_dropped = dropped
        else:
            self._described_tags.discard(DROPPED_SUMMARIES_TAG)

    def _upload_failed(self, reason: str) -> None:
        mib = self._buffer_options["max_bytes"] / (1 << 20)
        self._warn_once(reason, f"retrying with backoff and holding up to {mib:g} MiB here; training goes on")

    def _close_sink(self) -> None:
        """Nothing to close on the writer thread: the uploader finishes in ``_finish_sink``."""

    def _finish_sink(self, timeout: float | None) -> None:
        lost = self._uploader.stop(timeout)
        if lost:
            self._count_dropped(lost)
            self._warn_once(
                f"{lost} summaries were not uploaded to {self.log_dir} before close() gave up",
                "they are lost",
            )


_exit_hook = threading.Lock()
_exit_hook_registered = False


def _close_at_thread_shutdown() -> None:
    """Close remote writers left open when the interpreter exits, while uploads can still run.

    ``atexit`` is too late: by then ``concurrent.futures`` has shut its thread pools
    down, and the stores' HTTP clients resolve names in the event loop's pool
    ("cannot schedule new futures after shutdown"). Hooks registered with
    ``threading._register_atexit`` run earlier, newest first, so this one is
    registered after the pools' own.
    """
    global _exit_hook_registered
    with _exit_hook:
        if _exit_hook_registered:
            return
        import concurrent.futures.thread  # noqa: F401  (registers its pools' shutdown hook first)

        threading._register_atexit(_close_remote_writers)
        _exit_hook_registered = True


def _close_remote_writers() -> None:
    for writer in list(_live_writers):
        if isinstance(writer, RemoteEventWriter):
            try:
                writer.close(timeout=10.0)
            except Exception:  # one writer's failure must not keep the others from closing
                pass


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _put_within(store: RemoteStore, job: UploadJob, timeout: float, log_dir: str) -> None:
    """Write ``job`` or raise ``LogDirError``; a store that does not answer in ``timeout`` fails too."""
    outcome: list[BaseException | None] = []

    def put() -> None:
        try:
            store.put(job.name, job.data)
            outcome.append(None)
        except BaseException as error:  # handed to the constructing thread below
            outcome.append(error)

    thread = threading.Thread(target=put, name="tb-netviz-open", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise LogDirError(
            errno.ETIMEDOUT,
            f"tb-netviz cannot write event files to log_dir {log_dir!r}: no answer in {timeout:g} s",
        )
    error = outcome[0]
    if error is not None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        number = getattr(error, "errno", None) or errno.EIO
        raise LogDirError(
            number, f"tb-netviz cannot write event files to log_dir {log_dir!r}: {reason}"
        ) from error
