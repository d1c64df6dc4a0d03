"""The segments a remote run is cut into: what TensorBoard reads back is the stream that was written.

TensorBoard reads a run's event files in name order and never returns to an
earlier one, so the last version of each object, in name order, must hold
every record appended, once, in order; memory must stay bounded; and a sealed
segment must be complete before the next one is first written.
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from tb_netviz.summary.segments import SegmentBuffer

HEADER = b"H"


def _buffer(**options) -> SegmentBuffer:
    return SegmentBuffer("events.out.tfevents.1.host.7.0", ".netviz", HEADER, **options)


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=60),
    upload_after=st.lists(st.booleans(), min_size=60, max_size=60),
    segment_bytes=st.integers(min_value=8, max_value=120),
)
def test_last_versions_in_name_order_hold_every_record_once_in_order(records, upload_after, segment_bytes):
    buffer = _buffer(segment_bytes=segment_bytes, max_bytes=1 << 20)
    store: dict[str, bytes] = {}
    first_written: list[str] = []
    store_when_first_written: list[dict[str, bytes]] = []

    def upload_due(urgent: bool) -> None:
        for job in buffer.due_uploads(time.monotonic(), flush_secs=0.0, urgent=urgent):
            if job.name not in store:
                first_written.append(job.name)
                store_when_first_written.append(dict(store))
            store[job.name] = job.data
            buffer.mark_uploaded(job, time.monotonic())

    for record, upload in zip(records, upload_after, strict=False):
        assert buffer.append([record], events=1)
        if upload:
            upload_due(urgent=False)
    upload_due(urgent=True)
    names = sorted(store)
    assert names == first_written, "objects are first written in name order"
    for before in store_when_first_written:  # what TensorBoard may have read there is all it will hold
        assert all(store[name] == content for name, content in before.items())
    assert all(store[name].startswith(HEADER) for name in names)
    assert b"".join(store[name][len(HEADER) :] for name in names) == b"".join(records)
    # at most segment_bytes, unless the object holds a single record larger than that
    assert all(len(store[name]) <= max(segment_bytes, len(HEADER) + max(map(len, records))) for name in names)
    assert buffer.events_not_uploaded() == 0
    assert buffer.held_bytes == len(store[names[-1]]), "only the last segment stays in memory"


def test_a_sealed_segment_is_freed_once_written_in_full():
    buffer = _buffer(segment_bytes=10, max_bytes=100)
    for _ in range(4):
        assert buffer.append([b"12345678"], events=1)  # each record fills a segment: 4 segments
    assert buffer.held_bytes == 4 * 9
    jobs = buffer.due_uploads(time.monotonic(), flush_secs=60.0, urgent=False)
    assert [job.sealed for job in jobs] == [True, True, True, False]  # the last: never written yet
    for job in jobs[:3]:
        buffer.mark_uploaded(job, time.monotonic())
    assert buffer.held_bytes == 9, "only the growing segment stays"
    assert buffer.uploaded_frontier() == (3, 0) and buffer.frontier() == (3, 9)
    buffer.mark_uploaded(jobs[3], time.monotonic())
    assert buffer.uploaded_frontier() == buffer.frontier() == (3, 9)


def test_appends_beyond_the_buffer_are_refused_and_the_rest_kept():
    buffer = _buffer(segment_bytes=10, max_bytes=30)
    accepted = [buffer.append([b"1234567"], events=1) for _ in range(6)]
    assert accepted == [True, True, True, False, False, False]
    assert buffer.held_bytes <= 30
    assert buffer.events_not_uploaded() == 3


def test_an_old_segment_is_sealed_at_the_next_append():
    buffer = _buffer(segment_bytes=1 << 20, segment_secs=0.05, max_bytes=4 << 20)
    buffer.append([b"a"], events=1)
    time.sleep(0.1)
    buffer.append([b"b"], events=1)
    jobs = buffer.due_uploads(time.monotonic(), flush_secs=0.0, urgent=True)
    assert [(job.data, job.sealed) for job in jobs] == [(b"Ha", True), (b"Hb", False)]


def test_the_growing_segment_is_written_at_most_once_per_flush_interval_and_only_with_new_data():
    buffer = _buffer()
    now = time.monotonic()
    buffer.append([b"a"], events=1)
    [job] = buffer.due_uploads(now, flush_secs=5.0, urgent=False)
    buffer.mark_uploaded(job, now)
    buffer.append([b"b"], events=1)
    assert buffer.due_uploads(now + 4.9, flush_secs=5.0, urgent=False) == []
    assert buffer.next_due_in(now + 4.0, flush_secs=5.0) == 1.0
    [job] = buffer.due_uploads(now + 5.0, flush_secs=5.0, urgent=False)
    buffer.mark_uploaded(job, now + 5.0)
    assert buffer.due_uploads(now + 60.0, flush_secs=5.0, urgent=False) == []
    assert buffer.next_due_in(now + 60.0, flush_secs=5.0) is None
