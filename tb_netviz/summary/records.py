"""TFRecord framing of event files with a native CRC32C.

TensorBoard's TF-free writer computes the checksum in pure Python (about
150 ms per MB). ``google-crc32c`` is Google's own C implementation
(hardware-accelerated where the CPU allows, Apache-2.0 like TensorBoard, with
wheels for every common platform), so a 1 MB record costs about 0.05 ms.

Example:
    >>> frame_record(b"abc")[:8]
    b'\\x03\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
"""

from __future__ import annotations

import struct

import google_crc32c

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """The CRC32C of ``data``, masked as the TFRecord format requires.

    >>> hex(masked_crc32c(b"123456789"))
    '0xc78ab0e5'
    """
    return mask_crc(google_crc32c.value(data))


def mask_crc(crc: int) -> int:
    """Mask a CRC32C as the TFRecord format requires (so CRCs of CRCs stay well spread).

    >>> mask_crc(0xE3069283) == masked_crc32c(b"123456789")  # the CRC32C check value
    True
    """
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data.

    >>> len(frame_record(b"abc"))
    19
    """
    header = struct.pack("<Q", len(data))
    return b"".join(
        (
            header,
            struct.pack("<I", masked_crc32c(header)),
            data,
            struct.pack("<I", masked_crc32c(data)),
        )
    )


def native_crc32c() -> bool:
    """Whether the installed google-crc32c uses its C implementation.

    >>> native_crc32c()
    True
    """
    return google_crc32c.implementation == "c"
