"""Progress bars on stderr, written here rather than pulled in as a dependency.

On a terminal a bar redraws itself in place with ``\\r`` (at most ten times a second, so that
2,000 tiny files do not cost 2,000 writes). Anywhere else — CI logs, a pipe, a file — redrawing
would leave a line per update, so a bar prints a plain line when it starts a new phase (a new
``note``), every ``interval`` seconds while it runs, and once when it finishes. stdout is never
touched: it carries the command's result, which ``--json`` callers parse."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import Literal, TextIO

Unit = Literal["files", "bytes", "percent"]

TTY_REDRAW_SECONDS = 0.1
PLAIN_LINE_SECONDS = 5.0
BAR_WIDTH = 24


def format_bytes(n: float) -> str:
    """1536 → ``1.5 KiB``; whole bytes below a KiB."""
    if n < 1024:
        return f"{int(n)} B"
    for suffix in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or suffix == "GiB":
            return f"{n:.1f} {suffix}"
    raise AssertionError("unreachable")


def format_amount(done: int, total: int, unit: Unit) -> str:
    if unit == "files":
        return f"{done:,}/{total:,} file{'' if total == 1 else 's'}"
    if unit == "bytes":
        return f"{format_bytes(done)}/{format_bytes(total)}"
    return ""


def percent(done: int, total: int) -> int:
    if total <= 0:
        return 100
    return max(0, min(100, done * 100 // total))


def render_plain(label: str, done: int, total: int, unit: Unit, *, note: str = "") -> str:
    """``hashing: 1,200/2,000 files (60%)`` — one line for logs."""
    amount = format_amount(done, total, unit)
    parts = [f"{label}:", note, amount, f"({percent(done, total)}%)"]
    return " ".join(p for p in parts if p)


def render_tty(label: str, done: int, total: int, unit: Unit, *, note: str = "", columns: int = 80) -> str:
    """``hashing    [#########---------]  60%  1,200/2,000 files``, cut to the terminal's width."""
    filled = percent(done, total) * BAR_WIDTH // 100
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    parts = [f"{label:<10}", f"[{bar}]", f"{percent(done, total):>3}%", format_amount(done, total, unit), note]
    return " ".join(p for p in parts if p)[: max(columns - 1, 10)]


class Progress:
    """Makes bars that write to ``stream`` (None: silent). ``tty`` defaults to ``stream.isatty()``."""

    def __init__(
        self,
        stream: TextIO | None = sys.stderr,
        *,
        tty: bool | None = None,
        interval: float = PLAIN_LINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and (stream.isatty() if tty is None else tty))
        self.interval = TTY_REDRAW_SECONDS if self.tty else interval
        self.clock = clock
        self.active: Bar | None = None

    def bar(self, label: str, total: int, unit: Unit) -> Bar:
        self.active = Bar(self, label, total, unit)
        return self.active

    def message(self, text: str) -> None:
        """A line of its own (a retry, a warning). On a terminal it takes the bar's line (``ESC[K``
        clears what is left of it) and the bar is drawn again below."""
        if self.stream is None:
            return
        bar = self.active
        if bar is None or not self.tty:
            self.stream.write(text + "\n")
            self.stream.flush()
            return
        bar.interrupt(text)


class Bar:
    """One phase's counter. Thread-safe: worker threads advance it while the main thread waits."""

    def __init__(self, progress: Progress, label: str, total: int, unit: Unit) -> None:
        self._progress = progress
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.note = ""
        self._lock = threading.Lock()
        self._last_draw: float | None = None
        self._last_line = ""
        self._closed = False

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(final=exc_type is None)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done (negative when a failed upload attempt is taken back)."""
        with self._lock:
            self.done += n
            self._draw(force=False)

    def update(self, done: int | None = None, *, total: int | None = None, note: str | None = None) -> None:
        with self._lock:
            new_phase = note is not None and note != self.note
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
            if note is not None:
                self.note = note
            self._draw(force=new_phase)

    def interrupt(self, text: str) -> None:
        """Print ``text`` over this bar's line and redraw the bar under it."""
        with self._lock:
            stream = self._progress.stream
            if stream is None:
                return
            stream.write("\r\x1b[K" + text + "\n")
            self._last_line = ""
            if not self._closed:
                self._draw(force=True)
            stream.flush()

    def close(self, *, final: bool = True) -> None:
        """Draw the last state once more and end the line. ``final=False`` (an error) just ends it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._progress.active is self:
                self._progress.active = None
            stream = self._progress.stream
            if stream is None:
                return
            if final:
                self._draw(force=True)
            if self._progress.tty and self._last_line:
                stream.write("\n")
                stream.flush()

    def _draw(self, *, force: bool) -> None:
        progress = self._progress
        stream = progress.stream
        if stream is None or (self._closed and not force):
            return
        now = progress.clock()
        if not force and self._last_draw is not None and now - self._last_draw < progress.interval:
            return
        if not force and self._last_draw is None and not progress.tty:
            self._last_draw = now  # the first plain line waits one interval: short phases print only their end
            return
        self._last_draw = now
        if progress.tty:
            columns = shutil.get_terminal_size().columns
            line = render_tty(self.label, self.done, self.total, self.unit, note=self.note, columns=columns)
        else:
            line = render_plain(self.label, self.done, self.total, self.unit, note=self.note)
        if line == self._last_line:
            return
        if progress.tty:
            stream.write("\r" + line + " " * max(0, len(self._last_line) - len(line)))
        else:
            stream.write(line + "\n")
        self._last_line = line
        stream.flush()
