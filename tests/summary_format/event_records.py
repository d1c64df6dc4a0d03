"""Strict reading of event files: every record whole, every checksum right, nothing trailing.

TensorBoard's loaders stop quietly at a damaged record; these helpers fail
instead, so a test sees a file that a failure left half-written.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import google_crc32c
from tensorboard.compat.proto import event_pb2

_MASK_DELTA = 0xA282EAD8


def _masked(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_events(path: str | os.PathLike) -> list[event_pb2.Event]:
    """All events of one file; raises AssertionError on any damaged or trailing bytes."""
    data = Path(path).read_bytes()
    events, offset = [], 0
    while offset < len(data):
        assert offset + 12 <= len(data), f"{path}: a record header is cut off at byte {offset}"
        header = data[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
        assert header_crc == _masked(header), f"{path}: bad length checksum at byte {offset}"
        end = offset + 12 + length + 4
        assert end <= len(data), f"{path}: a record of {length} bytes is cut off at byte {offset}"
        body = data[offset + 12 : offset + 12 + length]
        (body_crc,) = struct.unpack("<I", data[end - 4 : end])
        assert body_crc == _masked(body), f"{path}: bad data checksum at byte {offset}"
        events.append(event_pb2.Event.FromString(body))
        offset = end
    return events


def event_files(log_dir: str | os.PathLike) -> list[Path]:
    """The event files in ``log_dir``, oldest name first."""
    return sorted(Path(log_dir).glob("events.out.tfevents.*"))


def summary_events(log_dir: str | os.PathLike) -> list[event_pb2.Event]:
    """The summary events of the single event file in ``log_dir`` (the file-version event left out)."""
    files = event_files(log_dir)
    assert len(files) == 1, f"expected one event file in {log_dir}, found {files}"
    events = read_events(files[0])
    assert events and events[0].file_version == "brain.Event:2"
    return [event for event in events[1:] if event.HasField("summary")]


def logged_steps(log_dir: str | os.PathLike, tag: str | None = None) -> list[int]:
    """The steps of the summary events in ``log_dir`` (of one tag if given), in file order."""
    return [
        event.step
        for event in summary_events(log_dir)
        if tag is None or any(value.tag == tag for value in event.summary.value)
    ]
