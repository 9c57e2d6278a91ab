"""The streamed assets body: the same bytes urllib3 would build in memory, a length known up front,
a restart for retries, and no corrupted file ever sent whole."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator

import pytest
import urllib3

from sitedeploy.platforms.base import PlatformError, SiteFile, StreamReader
from sitedeploy.platforms.cloudflare.multipart import MultipartBody, base64_length
from sitedeploy.platforms.readahead import read_ahead

CONTENT = {
    "index.html": b"<!doctype html><h1>hi</h1>",
    "empty.txt": b"",
    "one.bin": b"x",
    "two.bin": b"xy",
    "logo.png": os.urandom(70_001),
    "big.woff2": os.urandom(3 * 1024 * 1024 + 5),
}


def _file(path: str, data: bytes) -> SiteFile:
    kind = "text/html" if path.endswith(".html") else "application/octet-stream"
    return SiteFile(path, hashlib.sha256(data).hexdigest(), len(data), kind)


def _parts() -> list[tuple[str, SiteFile]]:
    return [(f"h{i:031d}", _file(path, data)) for i, (path, data) in enumerate(CONTENT.items())]


def _reader(chunk: int, reads: list[str] | None = None) -> StreamReader:
    def read(site_file: SiteFile) -> Iterator[bytes]:
        if reads is not None:
            reads.append(site_file.path)
        data = CONTENT[site_file.path]
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]

    return read


def _drain(body: io.RawIOBase, block: int = 65536) -> bytes:
    out = bytearray()
    while piece := body.read(block):
        out += piece
    return bytes(out)


@pytest.mark.parametrize("chunk", [1, 2, 1000, 1024 * 1024])
def test_the_body_is_byte_for_byte_what_urllib3_builds_in_memory(chunk: int) -> None:
    parts = [p for p in _parts() if chunk > 1 or p[1].size < 100_000]  # byte by byte: the small ones
    body = MultipartBody(parts, _reader(chunk), boundary="b0undary")
    expected, content_type = urllib3.encode_multipart_formdata(
        [(name, (name, base64.b64encode(CONTENT[f.path]), f.content_type)) for name, f in parts],
        boundary="b0undary",
    )
    sent = _drain(body, block=7919)
    assert sent == expected
    assert body.length == len(expected)
    assert body.content_type == content_type


def test_base64_length() -> None:
    for size in range(0, 50):
        assert base64_length(size) == len(base64.b64encode(b"a" * size))


def test_seek_to_the_start_sends_it_all_again_reading_every_file_anew() -> None:
    reads: list[str] = []
    body = MultipartBody(_parts(), _reader(4096, reads))
    assert body.tell() == 0
    first_part = body.read(100)
    assert body.tell() == 100
    assert body.seek(0) == 0
    whole = _drain(body)
    assert whole.startswith(first_part)
    assert body.tell() == len(whole) == body.length
    body.seek(0)
    assert _drain(body) == whole
    assert reads.count("logo.png") >= 2
    with pytest.raises(io.UnsupportedOperation):
        body.seek(10)


def test_a_file_that_is_not_its_declared_size_stops_the_body() -> None:
    parts = [("h" * 32, SiteFile("index.html", "0" * 64, len(CONTENT["index.html"]) + 3, "text/html"))]
    body = MultipartBody(parts, _reader(1000))
    with pytest.raises(PlatformError, match="not the size"):
        _drain(body)


def test_a_corrupted_file_is_never_sent_whole() -> None:
    data = CONTENT["logo.png"]

    class Corrupted(Exception):
        pass

    def read(site_file: SiteFile) -> Iterator[bytes]:
        # as Staging.iter_blob does: the last chunk is withheld until the hash checks, then it raises
        yield data[:30_000]
        yield data[30_000:60_000]
        raise Corrupted

    body = MultipartBody([("h" * 32, _file("logo.png", data))], read)
    out = bytearray()

    def send() -> None:
        while piece := body.read(4096):
            out.extend(piece)

    with pytest.raises(Corrupted):
        send()
    assert len(out) < body.length
    assert base64.b64encode(data) not in bytes(out)


def test_read_ahead_keeps_order_and_bounds_what_it_holds() -> None:
    sizes = [10, 2_000_000, 30, 5_000_000, 1_000_000, 1_000_000, 1_000_000, 7]
    files = [SiteFile(f"f{i}", "0" * 64, size, "x") for i, size in enumerate(sizes)]
    started: list[str] = []
    consumed: list[str] = []
    held_max = 0

    def read(site_file: SiteFile) -> Iterator[bytes]:
        started.append(site_file.path)
        yield b"\0" * site_file.size

    for site_file, chunks in read_ahead(files, read, workers=4, budget=2_500_000, small=2_000_000):
        ahead = [f for f in files if f.path in started and f.path not in consumed and f.path != site_file.path]
        held_max = max(held_max, sum(f.size for f in ahead if f.size <= 2_000_000))
        assert b"".join(chunks) == b"\0" * site_file.size
        consumed.append(site_file.path)
    assert consumed == [f.path for f in files]
    assert held_max <= 2_500_000 + 2_000_000  # the budget, plus the one file that may cross it
