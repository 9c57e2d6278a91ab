"""Amplify's job statuses mapped to ours, and the zip the adapter builds."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.platforms.amplify import publisher as publisher_module
from sitedeploy.platforms.amplify.publisher import build_zip, map_job
from sitedeploy.platforms.base import SiteFile


@pytest.mark.parametrize("status", ["CREATED", "PENDING", "PROVISIONING", "RUNNING", "CANCELLING"])
def test_unfinished_statuses_are_building_with_progress(status: str) -> None:
    state = map_job({"status": status}, [])
    assert state.status is DeploymentStatus.BUILDING
    assert 55 <= state.progress < 100
    assert state.error is None


def test_progress_grows_with_finished_steps() -> None:
    none = map_job({"status": "RUNNING"}, [{"stepName": "DEPLOY", "status": "RUNNING"}])
    one = map_job({"status": "RUNNING"}, [{"stepName": "DEPLOY", "status": "SUCCEED"}])
    assert one.progress > none.progress


def test_succeed_is_ready() -> None:
    state = map_job({"status": "SUCCEED"}, [{"stepName": "DEPLOY", "status": "SUCCEED"}])
    assert state.status is DeploymentStatus.READY
    assert state.progress == 100


def test_failed_carries_the_failing_steps_reason() -> None:
    steps = [
        {"stepName": "DEPLOY", "status": "FAILED", "statusReason": "index.html not found at the zip root"},
        {"stepName": "VERIFY", "status": "CANCELLED"},
    ]
    state = map_job({"status": "FAILED"}, steps)
    assert state.status is DeploymentStatus.ERROR
    assert state.error == "DEPLOY: index.html not found at the zip root"


@pytest.mark.parametrize(("status", "words"), [("FAILED", "failed"), ("CANCELLED", "cancelled")])
def test_final_without_a_reason_still_says_why(status: str, words: str) -> None:
    state = map_job({"status": status}, [])
    assert state.status is DeploymentStatus.ERROR
    assert state.error is not None
    assert words in state.error


def _on_disk(spooled: object) -> bool:
    """Whether a SpooledTemporaryFile rolled over to a file (its ``_rolled``: no public word for it;
    the file is unlinked at once, so the folder cannot tell)."""
    return bool(spooled._rolled)  # type: ignore[attr-defined]


def test_zip_has_files_at_the_root_compressed_by_type(tmp_path: Path) -> None:
    data = {"index.html": b"<p>" * 1000, "img/logo.png": bytes(range(256)) * 40, "a/b/c.js": b"x=1;" * 500}
    files = [SiteFile(p, hashlib.sha256(d).hexdigest(), len(d), "x") for p, d in data.items()]
    zipped, size = build_zip(files, lambda f: iter([data[f.path][:100], data[f.path][100:]]), str(tmp_path))
    with zipped:
        assert not _on_disk(zipped)  # a small zip is built and sent from memory
        body = zipped.read()
        assert size == len(body)
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert sorted(archive.namelist()) == sorted(data)
            assert archive.getinfo("index.html").compress_type == zipfile.ZIP_DEFLATED
            assert archive.getinfo("img/logo.png").compress_type == zipfile.ZIP_STORED
            for name, content in data.items():
                assert archive.read(name) == content


def test_a_zip_past_the_memory_budget_goes_to_a_file_that_closing_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "ZIP_MEMORY_BYTES", 1024)
    data = {"index.html": b"<p>hi</p>", "img/noise.png": os.urandom(4096)}
    files = [SiteFile(p, hashlib.sha256(d).hexdigest(), len(d), "x") for p, d in data.items()]
    zipped, size = build_zip(files, lambda f: iter([data[f.path]]), str(tmp_path))
    with zipped:
        assert _on_disk(zipped)
        body = zipped.read()
        assert size == len(body) > 4096
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert {name: archive.read(name) for name in archive.namelist()} == data
    assert list(tmp_path.iterdir()) == []


def test_zip_is_removed_when_reading_fails(tmp_path: Path) -> None:
    def broken(_f: SiteFile) -> Iterator[bytes]:
        raise OSError("S3 went away")

    files = [SiteFile("index.html", "0" * 64, 3, "text/html")]
    with pytest.raises(OSError, match="S3 went away"):
        build_zip(files, broken, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_text_is_deflated_at_the_fastest_level(tmp_path: Path) -> None:
    """The zip only carries the site to Amplify, inside AWS, where bytes are cheap and a Lambda's
    CPU is not: zlib's level 1 takes a third of the default's time for text a quarter larger."""
    import zlib

    text = b"".join(f"function f{i}(a) {{ return a * {i} + {i % 7}; }}\n".encode() for i in range(20000))
    files = [SiteFile("app.js", hashlib.sha256(text).hexdigest(), len(text), "x")]
    zipped, _ = build_zip(files, lambda f: iter([text]), str(tmp_path))
    with zipped, zipfile.ZipFile(zipped) as archive:
        stored = archive.getinfo("app.js").compress_size
        assert archive.read("app.js") == text

    def deflated(level: int) -> int:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        return len(compressor.compress(text) + compressor.flush())

    assert deflated(1) != deflated(6)
    assert stored == deflated(1)
