"""The event stream of a remote run, cut into event files ("segments") held until they are uploaded.

Object stores cannot append, so the stream goes to the store as a sequence of
event files whose names sort in write order (``<prefix>.000000<suffix>``,
``<prefix>.000001<suffix>``...). Only the last segment grows: it is uploaded
again, whole, when it has new data (at most once per flush interval), and it is
*sealed* once it holds ``segment_bytes`` or is ``segment_secs`` old; a sealed
segment is uploaded once more, in full, before the next one is first written.
That order is what TensorBoard's loader needs: it reads a run's files in name
order, keeps reading the last one as it grows, and never goes back to a file
once a later one exists. Each segment starts with its own file-version record,
so every object is a complete event file, and segments hold whole records only.

Memory is bounded: segments stay here until their last bytes are in the store
(a sealed one is then freed), and ``append`` refuses data that would make the
held bytes exceed ``max_bytes`` (the caller counts it as dropped).

Example:
    >>> buffer = SegmentBuffer("events.out.tfevents.1.h.1.0", ".netviz", b"V", segment_bytes=4, max_bytes=64)
    >>> buffer.append([b"abc"], events=1), buffer.append([b"de"], events=1)
    (True, True)
    >>> for job in buffer.due_uploads(now=0.0, flush_secs=5.0, urgent=True):
    ...     print(job.name, job.data, job.sealed)
    events.out.tfevents.1.h.1.0.000000.netviz b'Vabc' True
    events.out.tfevents.1.h.1.0.000001.netviz b'Vde' False
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence


@dataclasses.dataclass
class _Segment:
    seq: int
    name: str
    data: bytearray
    created: float
    events: int = 0
    sealed: bool = False
    uploaded_bytes: int = 0
    uploaded_events: int = 0
    last_upload: float = float("-inf")


@dataclasses.dataclass(frozen=True)
class UploadJob:
    """One object to write: the whole of segment ``seq`` as it is now."""

    seq: int
    name: str
    data: bytes
    events: int
    sealed: bool


class SegmentBuffer:
    """The segments of one run not yet fully in the store; shared by the writer and upload threads.

    Args:
        prefix: the event file name the segment numbers are appended to.
        suffix: appended after the segment number (e.g. ``.netviz``).
        header: the record every segment starts with (the file-version event).
        segment_bytes: a segment is sealed before it would grow past this (default 4 MiB).
        segment_secs: a segment is sealed once it is this old (default 600 s).
        max_bytes: the most bytes held for upload (default 128 MiB).

    Example:
        >>> buffer = SegmentBuffer("events.out.tfevents.1.h.1.0", "", b"V", max_bytes=3)
        >>> buffer.append([b"ab"], events=1), buffer.append([b"cd"], events=1)
        (True, False)
    """

    def __init__(
        self,
        prefix: str,
        suffix: str,
        header: bytes,
        *,
        segment_bytes: int = 4 << 20,
        segment_secs: float = 600.0,
        max_bytes: int = 128 << 20,
    ) -> None:
        self._prefix, self._suffix, self._header = prefix, suffix, header
        self._segment_bytes, self._segment_secs, self._max_bytes = segment_bytes, segment_secs, max_bytes
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._held = 0
        self._next_seq = 0
        self._start_segment()

    @property
    def held_bytes(self) -> int:
        """Bytes held for upload (the last segment whole, and sealed segments not yet fully written)."""
        return self._held

    @property
    def first_name(self) -> str:
        """The name of the first segment of the run."""
        return self.name_of(0)

    def name_of(self, seq: int) -> str:
        """The object name of segment ``seq`` (zero-padded, so names sort in write order)."""
        return f"{self._prefix}.{seq:06d}{self._suffix}"

    def append(self, chunks: Sequence[bytes], events: int) -> bool:
        """Add whole records to the last segment (sealing it first if full or old); False if no room."""
        size = sum(len(chunk) for chunk in chunks)
        with self._lock:
            current = self._segments[-1]
            if current.events and self._should_seal(current, size):
                current.sealed = True
                self._free_if_written(current)
                self._start_segment()
                current = self._segments[-1]
            if self._held + size > self._max_bytes:
                return False
            for chunk in chunks:
                current.data += chunk
            current.events += events
            self._held += size
            return True

    def due_uploads(self, now: float, flush_secs: float, urgent: bool) -> list[UploadJob]:
        """Snapshots of the segments to write now, in order: every sealed segment with bytes not yet
        written, then the last segment if it has new bytes and was last written ``flush_secs`` ago
        (or ``urgent``: a flush or close waits). Write them in this order."""
        with self._lock:
            jobs = []
            for segment in self._segments:
                if len(segment.data) == segment.uploaded_bytes:
                    continue
                if not (segment.sealed or urgent or now - segment.last_upload >= flush_secs):
                    break
                jobs.append(
                    UploadJob(segment.seq, segment.name, bytes(segment.data), segment.events, segment.sealed)
                )
            return jobs

    def next_due_in(self, now: float, flush_secs: float) -> float | None:
        """Seconds until the last segment's new bytes are due for upload; None if nothing is waiting."""
        with self._lock:
            pending = [s for s in self._segments if len(s.data) != s.uploaded_bytes]
            if not pending:
                return None
            if pending[0].sealed:
                return 0.0
            return max(0.0, pending[0].last_upload + flush_secs - now)

    def mark_uploaded(self, job: UploadJob, when: float) -> None:
        """``job`` is in the store: a sealed segment written in full is freed."""
        with self._lock:
            segment = next(s for s in self._segments if s.seq == job.seq)
            segment.uploaded_bytes = max(segment.uploaded_bytes, len(job.data))
            segment.uploaded_events = max(segment.uploaded_events, job.events)
            segment.last_upload = when
            self._free_if_written(segment)

    def frontier(self) -> tuple[int, int]:
        """(segment, length) of everything appended so far; compare with ``uploaded_frontier``."""
        with self._lock:
            last = self._segments[-1]
            return last.seq, len(last.data)

    def uploaded_frontier(self) -> tuple[int, int]:
        """(segment, length) up to which the stream is in the store, in order."""
        with self._lock:
            first = self._segments[0]
            return first.seq, first.uploaded_bytes

    def events_not_uploaded(self) -> int:
        """Events appended whose records are not yet in the store."""
        with self._lock:
            return sum(s.events - s.uploaded_events for s in self._segments)

    def _free_if_written(self, segment: _Segment) -> None:
        """A sealed segment whose every byte is in the store leaves memory (it may be sealed after that)."""
        if segment.sealed and segment.uploaded_bytes == len(segment.data):
            self._segments.remove(segment)
            self._held -= len(segment.data)

    def _should_seal(self, segment: _Segment, incoming: int) -> bool:
        too_big = len(segment.data) + incoming > self._segment_bytes
        return too_big or time.monotonic() - segment.created >= self._segment_secs

    def _start_segment(self) -> None:
        seq = self._next_seq
        self._next_seq += 1
        self._segments.append(_Segment(seq, self.name_of(seq), bytearray(self._header), time.monotonic()))
        self._held += len(self._header)
