"""The upload thread of a remote run: writes due segments to the store, retrying with backoff.

It never raises into training: a failed upload is reported once through
``on_failure`` and retried after 0.5 s, 1 s, 2 s... up to ``retry_max_secs``
between tries, for as long as the writer lives; the segments wait in the
bounded ``SegmentBuffer`` meanwhile. When the store answers again the
backlog goes up in order, oldest first.

Example:
    >>> from tb_netviz.summary.remote_store import RemoteStore
    >>> from tb_netviz.summary.segments import SegmentBuffer
    >>> store = RemoteStore("memory://netviz-doc/uploader")
    >>> segments = SegmentBuffer("events.out.tfevents.1.h.1.0", "", b"V")
    >>> uploader = Uploader(store, segments, flush_secs=5.0, on_failure=print)
    >>> segments.append([b"abc"], events=1)
    True
    >>> uploader.flush(timeout=10.0)
    True
    >>> uploader.stop(timeout=10.0)
    0
    >>> store.fs.cat_file(store.path + "/" + segments.first_name)
    b'Vabc'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tb_netviz.summary.remote_store import RemoteStore
from tb_netviz.summary.segments import SegmentBuffer, UploadJob

_FIRST_RETRY_SECS = 0.5


class Uploader:
    """Uploads ``segments`` to ``store`` on a daemon thread.

    Args:
        store: where the segments go.
        segments: the buffer the writer thread appends to.
        flush_secs: the last segment is written again at most this often while it grows.
        retry_max_secs: the longest wait between two tries while the store fails (default 30).
        on_failure: called with a description of each failed upload (from the upload thread).
    """

    def __init__(
        self,
        store: RemoteStore,
        segments: SegmentBuffer,
        *,
        flush_secs: float,
        on_failure: Callable[[str], None],
        retry_max_secs: float = 30.0,
    ) -> None:
        self._store, self._segments = store, segments
        self._flush_secs, self._retry_max_secs = flush_secs, retry_max_secs
        self._on_failure = on_failure
        self._wake = threading.Condition()
        self._waiting_flushes = 0
        self._stopping = False
        self._deadline = float("inf")
        self._failures = 0
        self._retry_at = 0.0
        self.uploads = 0
        self._thread = threading.Thread(target=self._run, name="tb-netviz-uploader", daemon=True)
        self._thread.start()

    @property
    def failing(self) -> bool:
        """True while the last upload failed (the store is unreachable or refuses writes)."""
        return self._failures > 0

    def notify(self) -> None:
        """New data was appended to the segments."""
        with self._wake:
            self._wake.notify_all()

    def flush(self, timeout: float | None) -> bool:
        """Upload everything appended so far now; True once it is in the store, False after ``timeout``."""
        target = self._segments.frontier()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            self._waiting_flushes += 1
            self._wake.notify_all()
            try:
                while self._segments.uploaded_frontier() < target and self._thread.is_alive():
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._wake.wait(remaining)
                return self._segments.uploaded_frontier() >= target
            finally:
                self._waiting_flushes -= 1

    def stop(self, timeout: float | None) -> int:
        """Upload what is left, trying for at most ``timeout`` seconds; returns the events left out."""
        with self._wake:
            self._stopping = True
            self._deadline = float("inf") if timeout is None else time.monotonic() + timeout
            self._wake.notify_all()
        self._thread.join(timeout)
        return self._segments.events_not_uploaded()

    def _run(self) -> None:
        while True:
            jobs = self._next_jobs()
            if jobs is None:
                return
            for job in jobs:
                if not self._upload(job):
                    break

    def _next_jobs(self) -> list[UploadJob] | None:
        with self._wake:
            while True:
                now = time.monotonic()
                if self._stopping and (now >= self._deadline or self._segments.next_due_in(now, 0.0) is None):
                    return None
                wait = self._retry_at - now
                if wait <= 0:
                    urgent = self._stopping or self._waiting_flushes > 0
                    jobs = self._segments.due_uploads(now, self._flush_secs, urgent)
                    if jobs:
                        return jobs
                    wait = self._segments.next_due_in(now, self._flush_secs)
                if self._stopping:
                    wait = min(self._deadline - now, float("inf") if wait is None else wait)
                self._wake.wait(wait)

    def _upload(self, job: UploadJob) -> bool:
        try:
            self._store.put(job.name, job.data)
        except Exception as error:  # any failure of the store must leave training alone
            self._failures += 1
            delay = min(self._retry_max_secs, _FIRST_RETRY_SECS * 2 ** min(self._failures - 1, 16))
            self._retry_at = time.monotonic() + delay
            self._on_failure(
                f"uploading {self._store.object_url(job.name)} failed ({type(error).__name__}: {error})"
            )
            return False
        self._failures = 0
        self._retry_at = 0.0
        self.uploads += 1
        self._segments.mark_uploaded(job, time.monotonic())
        with self._wake:
            self._wake.notify_all()
        return True
