"""The encrypted random-access spool behind PDF cleaning: reads anywhere give the written bytes,
and the temporary file it writes holds none of them in clear."""

from __future__ import annotations

import io
import os
import random
import tempfile
from pathlib import Path

import pytest

from portal.block_spool import BLOCK_BYTES, BlockSpool


def spooled(data: bytes, piece: int = 10_000) -> BlockSpool:
    spool = BlockSpool()
    for start in range(0, len(data), piece):
        spool.write(data[start : start + piece])
    return spool


@pytest.mark.parametrize("size", [0, 1, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 5 * BLOCK_BYTES + 123])
def test_reads_in_order_and_out_of_order_give_the_written_bytes(size: int) -> None:
    data = os.urandom(size)
    spool = spooled(data)
    assert b"".join(spool.pieces()) == data
    reader = spool.reader()
    assert reader.read() == data
    rng = random.Random(size)
    for _ in range(50):
        start = rng.randrange(0, size + 1)
        length = rng.randrange(0, 3 * BLOCK_BYTES)
        reader.seek(start)
        assert reader.read(length) == data[start : start + length]
    reader.seek(-1 if size else 0, io.SEEK_END)
    assert reader.read() == data[-1:]
    spool.close()


def test_a_writer_appends_for_libraries_that_want_a_stream() -> None:
    spool = BlockSpool()
    writer = spool.writer()
    assert writer.writable() and not writer.seekable()
    writer.write(b"%PDF-1.7 ")
    writer.write(b"x" * BLOCK_BYTES)
    assert spool.reader().read() == b"%PDF-1.7 " + b"x" * BLOCK_BYTES
    spool.close()


def test_the_temporary_file_holds_only_ciphertext(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    marker = b"AUTHOR-NGUYEN-VAN-A-" * 10_000
    spool = spooled(marker)
    spool.finish()
    # The file is unlinked at once; what is on disk is reached through this process's descriptor.
    descriptors = [Path("/proc/self/fd") / name for name in os.listdir("/proc/self/fd")]
    ours = [fd for fd in descriptors if str(tmp_path) in os.path.realpath(fd)]
    if not ours:
        pytest.skip("no /proc: the spool's descriptor cannot be found")
    on_disk = b"".join(fd.read_bytes() for fd in ours)
    assert len(on_disk) > len(marker)
    assert b"AUTHOR-NGUYEN" not in on_disk
    spool.close()
