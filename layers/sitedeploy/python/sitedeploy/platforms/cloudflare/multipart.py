"""An assets bucket's ``multipart/form-data`` body, streamed from staging as it is sent.

Cloudflare takes each file base64-encoded in a part of its own. Built in memory, a bucket costs
its files, their base64 and the joined body at once, three buckets at a time; streamed, it costs
the read-ahead window. The body's length is known before its first byte (base64 is 4 bytes per 3,
the part heads are fixed), so it goes with a Content-Length, as wrangler's does.

It is a file object because that is what urllib3 knows how to retry: it asks ``tell()`` before
sending and ``seek()``s back there to send again, which here starts the stream over (each file is
read from staging again and verified again). A file whose bytes do not hash to its name stops the
body before its last chunk, so Cloudflare never receives a corrupted file whole."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Generator, Iterator, Sequence

from sitedeploy.platforms.base import PlatformError, SiteFile, StreamReader
from sitedeploy.platforms.readahead import read_ahead


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _encoded(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, int]]:
    """Base64 of a stream of chunks, and how many raw bytes each piece stands for: chunks are cut
    at multiples of 3 bytes so the pieces join into the encoding of the whole."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = len(data) - len(data) % 3
        if cut:
            yield base64.b64encode(memoryview(data)[:cut]), cut
        carry = data[cut:]
    if carry:
        yield base64.b64encode(carry), len(carry)


class MultipartBody(io.RawIOBase):
    """The body of one assets upload: a part per ``(asset hash, file)``, named by the hash."""

    def __init__(self, parts: Sequence[tuple[str, SiteFile]], read: StreamReader, *, boundary: str = "") -> None:
        super().__init__()
        self._parts = list(parts)
        self._read = read
        self.boundary = boundary or os.urandom(16).hex()
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._end = f"--{self.boundary}--\r\n".encode()
        self.length = len(self._end) + sum(
            len(self._head(name, site_file)) + base64_length(site_file.size) + 2 for name, site_file in self._parts
        )
        self._pieces: Generator[bytes, None, None] | None = None
        self._piece = b""
        self._offset = 0
        self._position = 0

    def _head(self, name: str, site_file: SiteFile) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            f"Content-Type: {site_file.content_type}\r\n\r\n"
        ).encode()

    def _generate(self) -> Generator[bytes, None, None]:
        files = [site_file for _, site_file in self._parts]
        stream = read_ahead(files, self._read)
        try:
            for (name, _), (site_file, chunks) in zip(self._parts, stream, strict=True):
                yield self._head(name, site_file)
                sent = 0
                for encoded, raw in _encoded(chunks):
                    sent += raw
                    if sent > site_file.size:
                        break
                    yield encoded
                if sent != site_file.size:
                    raise PlatformError(f"staged file {site_file.path} is not the size its manifest says")
                yield b"\r\n"
            yield self._end
        finally:
            stream.close()

    # -- the file object urllib3 sends ----------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only to where it is, or back to the start (a retry sends the whole body again)."""
        target = offset if whence == io.SEEK_SET else self._position + offset if whence == io.SEEK_CUR else -1
        if target == self._position:
            return self._position
        if target != 0:
            raise io.UnsupportedOperation("a streamed body can only go back to its start")
        self._restart()
        return 0

    def _restart(self) -> None:
        if self._pieces is not None:
            self._pieces.close()
        self._pieces = None
        self._piece, self._offset, self._position = b"", 0, 0

    def read(self, size: int = -1) -> bytes:
        if self._pieces is None:
            self._pieces = self._generate()
        while self._offset >= len(self._piece):
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._piece, self._offset = piece, 0
        end = len(self._piece) if size is None or size < 0 else min(len(self._piece), self._offset + size)
        out = self._piece[self._offset : end]
        self._offset = end
        self._position += len(out)
        return out

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._restart()
        super().close()
