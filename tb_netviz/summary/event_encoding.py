"""Serialized ``Event`` records built from serialized summary values, without copying them.

Wrapping a 1 MB ``Summary.Value`` in ``Summary(value=...)`` and then in
``Event(summary=...)`` copies the megabyte twice more inside protobuf, and the
writer thread holds the GIL while it does, which is time the training thread
waits. The wire format of an event holding one summary is simple enough to
write by hand: each value is serialized once, and the record is handed to
``writev`` as a list of chunks whose checksum is computed chunk by chunk.

Example:
    >>> from tensorboard.compat.proto import event_pb2, summary_pb2
    >>> value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    >>> chunks = event_chunks(12.5, 3, [value.SerializeToString()])
    >>> event = event_pb2.Event.FromString(b"".join(chunks))
    >>> event.step, event.wall_time, event.summary.value[0].tag
    (3, 12.5, 'loss')
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import google_crc32c

from tb_netviz.summary.records import mask_crc, masked_crc32c

_WALL_TIME = b"\x09"  # field 1, 64-bit
_STEP = b"\x10"  # field 2, varint
_SUMMARY = b"\x2a"  # field 5, length-delimited
_VALUE = b"\x0a"  # Summary field 1, length-delimited


def event_chunks(wall_time: float, step: int, serialized_values: Sequence[bytes]) -> list[bytes]:
    """The serialized ``Event(wall_time, step, summary=Summary(value=...))`` as chunks, in order.

    Byte for byte what ``Event.SerializeToString()`` gives for the same event.
    """
    summary: list[bytes] = []
    for value in serialized_values:
        summary += [_VALUE + _varint(len(value)), value]
    summary_length = sum(len(chunk) for chunk in summary)
    head = b""
    wall_time_bits = struct.pack("<d", wall_time)
    if wall_time_bits != bytes(8):  # proto3 leaves out +0.0 only (not -0.0)
        head += _WALL_TIME + wall_time_bits
    if step != 0:
        head += _STEP + _varint(step & 0xFFFFFFFFFFFFFFFF)  # int64 is two's complement on the wire
    return [head + _SUMMARY + _varint(summary_length), *summary]


def record_chunks(payload: Sequence[bytes]) -> list[bytes]:
    """One TFRecord around the concatenation of ``payload``, as chunks to write in order.

    >>> from tb_netviz.summary.records import frame_record
    >>> b"".join(record_chunks([b"ab", b"c"])) == frame_record(b"abc")
    True
    """
    length = struct.pack("<Q", sum(len(chunk) for chunk in payload))
    crc = 0
    for chunk in payload:
        crc = google_crc32c.extend(crc, chunk)
    return [length + struct.pack("<I", masked_crc32c(length)), *payload, struct.pack("<I", mask_crc(crc))]


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low = number & 0x7F
        number >>= 7
        if number:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
