"""Length padding, so a sealed document's size reveals only a coarse bucket, not its length.

Layout: 4-byte big-endian length, the data, zero bytes up to the bucket size. Buckets are powers
of two from 1 KiB to 1 MiB, then whole MiB: at most half the space wasted on small documents,
at most 1 MiB on large ones.
"""

import struct

from .errors import DecryptionError

_PREFIX = struct.Struct(">I")
_SMALLEST_BUCKET = 1024
_MIB = 1 << 20


def bucket_size(length: int) -> int:
    """Padded size for `length` bytes of data, prefix included."""
    if not 0 <= length <= 0xFFFF_FFFF:
        raise ValueError(f"cannot pad {length} bytes: the length prefix holds 0 to 2**32 - 1")
    needed = _PREFIX.size + length
    if needed <= _SMALLEST_BUCKET:
        return _SMALLEST_BUCKET
    if needed <= _MIB:
        return 1 << (needed - 1).bit_length()
    return -(-needed // _MIB) * _MIB


def pad(data: bytes) -> bytes:
    size = bucket_size(len(data))
    return _PREFIX.pack(len(data)) + data + bytes(size - _PREFIX.size - len(data))


def unpad(padded: bytes) -> bytes:
    """Refuses anything `pad` could not have produced."""
    if len(padded) < _PREFIX.size:
        raise DecryptionError("padded data is shorter than its length prefix")
    (length,) = _PREFIX.unpack_from(padded)
    if bucket_size(length) != len(padded):
        raise DecryptionError("length prefix does not match the padded size")
    end = _PREFIX.size + length
    if padded.count(0, end) != len(padded) - end:
        raise DecryptionError("padding is not all zero bytes")
    return padded[_PREFIX.size : end]
