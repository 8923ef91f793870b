"""A temporary file for data that must be read out of order, holding only ciphertext.

Cleaning a PDF needs random access (its cross-reference table is at the end), so the upload cannot
simply flow through. Rather than hold the file in memory or write it in clear, it is written here in
fixed blocks, each sealed under a key that lives only in this object (`crypto.attachments.seal_block`),
and read back through a seekable file object that decrypts one block at a time. Memory stays at a
block or two whatever the file's size; what reaches the disk is unreadable once the object is gone.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator

from crypto.attachments import BLOCK_OVERHEAD_BYTES, CHUNK_BYTES, new_file_key, open_block, seal_block

BLOCK_BYTES = CHUNK_BYTES


class BlockSpool:
    """Append with `write` (or a `writer()`), then read with `reader()` (seekable) or `pieces()` (in order)."""

    def __init__(self) -> None:
        self._key = new_file_key()
        self._file = tempfile.TemporaryFile(prefix="portal-block-")  # noqa: SIM115 - lives as long as the spool
        self._pending = bytearray()
        self._blocks = 0
        self.size = 0

    def write(self, data: bytes) -> int:
        self._pending += data
        self.size += len(data)
        while len(self._pending) >= BLOCK_BYTES:
            self._append(bytes(self._pending[:BLOCK_BYTES]))
            del self._pending[:BLOCK_BYTES]
        return len(data)

    def _append(self, block: bytes) -> None:
        self._file.seek(0, io.SEEK_END)
        self._file.write(seal_block(self._key, self._blocks, block))
        self._blocks += 1

    def finish(self) -> None:
        if self._pending:
            self._append(bytes(self._pending))
            self._pending.clear()
        self._file.flush()

    def block(self, index: int) -> bytes:
        self._file.seek(index * (BLOCK_BYTES + BLOCK_OVERHEAD_BYTES))
        return open_block(self._key, index, self._file.read(BLOCK_BYTES + BLOCK_OVERHEAD_BYTES))

    def pieces(self) -> Iterator[bytes]:
        self.finish()
        for index in range(self._blocks):
            yield self.block(index)

    def writer(self) -> io.RawIOBase:
        """An unseekable binary file object appending to the spool, for writers that want a real stream."""
        return _Writer(self)

    def reader(self) -> io.BufferedReader:
        self.finish()
        return io.BufferedReader(_Reader(self), buffer_size=BLOCK_BYTES)

    def close(self) -> None:
        self._file.close()


class _Writer(io.RawIOBase):
    def __init__(self, spool: BlockSpool) -> None:
        super().__init__()
        self._spool = spool

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self._spool.write(data)


class _Reader(io.RawIOBase):
    """Seekable plaintext view of a finished BlockSpool, decrypting the block a read falls in."""

    def __init__(self, spool: BlockSpool) -> None:
        super().__init__()
        self._spool = spool
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._spool.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self._spool.size:
            return 0
        index, offset = divmod(self._position, BLOCK_BYTES)
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._spool.block(index))
        data = self._cached[1][offset : offset + len(buffer)]
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
