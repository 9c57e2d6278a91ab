"""Progress bars: plain periodic lines off a terminal, in-place redraws on one, nothing when silent."""

from __future__ import annotations

import io
import threading

import pytest

from sitedeploy_cli.progress import Progress, format_bytes, percent, render_plain, render_tty


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_format_bytes() -> None:
    assert format_bytes(0) == "0 B"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert format_bytes(5 * 1024**4) == "5120.0 GiB"


def test_percent_is_bounded() -> None:
    assert percent(0, 0) == 100
    assert percent(1, 3) == 33
    assert percent(5, 4) == 100
    assert percent(-1, 4) == 0


def test_plain_and_tty_lines() -> None:
    assert render_plain("hashing", 1200, 2000, "files") == "hashing: 1,200/2,000 files (60%)"
    assert render_plain("uploading", 1536, 3072, "bytes") == "uploading: 1.5 KiB/3.0 KiB (50%)"
    assert render_plain("publishing", 40, 100, "percent", note="uploading") == "publishing: uploading (40%)"
    assert render_plain("hashing", 1, 1, "files") == "hashing: 1/1 file (100%)"
    line = render_tty("hashing", 1, 2, "files", columns=80)
    assert line == "hashing    [############------------]  50% 1/2 files"
    assert len(render_tty("publishing", 1, 2, "percent", note="x" * 200, columns=40)) == 39


def test_non_tty_prints_only_the_end_of_a_short_phase() -> None:
    out = io.StringIO()
    clock = Clock()
    progress = Progress(out, tty=False, interval=5.0, clock=clock)
    with progress.bar("hashing", 3, "files") as bar:
        for _ in range(3):
            bar.advance()
            clock.now += 0.1
    assert out.getvalue() == "hashing: 3/3 files (100%)\n"
    assert "\r" not in out.getvalue()


def test_non_tty_prints_periodic_lines_on_a_long_phase() -> None:
    out = io.StringIO()
    clock = Clock()
    progress = Progress(out, tty=False, interval=5.0, clock=clock)
    with progress.bar("uploading", 10 * 1024, "bytes") as bar:
        for _ in range(10):
            bar.advance(1024)
            clock.now += 2.0  # 20 s in all: a line every 5 s at most
    lines = out.getvalue().splitlines()
    assert 3 <= len(lines) <= 5
    assert lines[-1] == "uploading: 10.0 KiB/10.0 KiB (100%)"
    assert all(line.startswith("uploading: ") for line in lines)


def test_non_tty_prints_each_new_phase_once() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False, clock=Clock())
    with progress.bar("publishing", 100, "percent") as bar:
        bar.update(0, note="pending")
        bar.update(0, note="pending")
        bar.update(10, note="uploading")
        bar.update(60, note="uploading")
        bar.update(100, note="ready")
    assert out.getvalue().splitlines() == [
        "publishing: pending (0%)",
        "publishing: uploading (10%)",
        "publishing: ready (100%)",
    ]


def test_a_failed_phase_ends_without_a_final_line() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False, clock=Clock())
    bar = progress.bar("uploading", 10, "bytes")
    with pytest.raises(RuntimeError), bar:
        raise RuntimeError
    assert out.getvalue() == ""


def test_tty_redraws_in_place_and_ends_the_line() -> None:
    out = io.StringIO()
    clock = Clock()
    progress = Progress(out, tty=True, clock=clock)
    with progress.bar("hashing", 2, "files") as bar:
        bar.advance()
        clock.now += 1
        bar.advance()
    text = out.getvalue()
    assert text.startswith("\rhashing    [")
    assert text.count("\r") == 2  # each advance; the final redraw would only repeat the second
    assert text.endswith("100% 2/2 files\n")
    assert text.count("\n") == 1


def test_tty_redraws_are_throttled() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True, clock=Clock())  # the clock never moves
    with progress.bar("hashing", 1000, "files") as bar:
        for _ in range(1000):
            bar.advance()
    assert out.getvalue().count("\r") == 2  # the first draw and the final one


def test_silent_progress_writes_nothing() -> None:
    progress = Progress(None)
    with progress.bar("hashing", 2, "files") as bar:
        bar.advance(2)
    progress.message("nothing")
    assert progress.tty is False


def test_bars_count_from_many_threads() -> None:
    progress = Progress(io.StringIO(), tty=False)
    bar = progress.bar("uploading", 8000, "bytes")

    def work() -> None:
        for _ in range(1000):
            bar.advance(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.advance(-500)  # a failed attempt is taken back
    bar.close()
    assert bar.done == 7500


def test_tty_pads_a_shorter_line_over_a_longer_one() -> None:
    out = io.StringIO()
    clock = Clock()
    progress = Progress(out, tty=True, clock=clock)
    with progress.bar("publishing", 100, "percent") as bar:
        bar.update(10, note="uploading")
        bar.update(100, note="ready")
    first, second = out.getvalue().rstrip("\n").split("\r")[1:]
    assert len(second) == len(first)
    assert second.rstrip().endswith("100% ready")


def test_a_message_on_a_terminal_takes_the_bars_line_and_the_bar_comes_back() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True, clock=Clock())
    with progress.bar("uploading", 10, "bytes") as bar:
        bar.advance(5)
        progress.message("retrying the upload of a.bin (HTTP 503)")
    text = out.getvalue()
    assert "\r\x1b[Kretrying the upload of a.bin (HTTP 503)\n\ruploading " in text
    assert text.endswith("\n")
    assert progress.active is None
    progress.message("after")
    assert out.getvalue().endswith("after\n")


def test_a_message_off_a_terminal_is_a_plain_line() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False, clock=Clock())
    with progress.bar("uploading", 10, "bytes"):
        progress.message("retrying")
    assert out.getvalue() == "retrying\nuploading: 0 B/10 B (0%)\n"
