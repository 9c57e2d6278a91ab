"""One notion of time for records, so that sorting by timestamp string equals sorting by time.

Everything that stamps or compares record times reads this module, so a test can move the whole
service's clock forward (``travel``) to see what happens when leases, grace periods or retention
promises run out, without sleeping."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

# Seconds added to the wall clock: 0 in every deployed function; tests move it forward.
_offset = 0.0
# (wall time, offset from then on): what the clock read at any wall moment, for stores whose own
# timestamps are wall time (S3's LastModified) when a test asks how old their objects are.
_travels: list[tuple[float, float]] = []


def travel(seconds: float) -> None:
    """Move the clock forward by ``seconds`` (tests only)."""
    global _offset  # noqa: PLW0603 - one process-wide clock is the point
    _offset += seconds
    _travels.append((time.time(), _offset))


def reset() -> None:
    global _offset  # noqa: PLW0603
    _offset = 0.0
    _travels.clear()


def at_wall(wall_epoch: float) -> float:
    """The service's time at a past wall-clock moment (tests only: the travels since reset). Stores
    stamp whole seconds (S3's LastModified): a travel counts from the start of its second, so a
    test that travels just after a second begins (and writes nothing in it before) is exact."""
    offset = 0.0
    for moment, value in _travels:
        if math.floor(moment) > wall_epoch:
            break
        offset = value
    return wall_epoch + offset


def now() -> datetime:
    moment = datetime.now(UTC)
    return moment + timedelta(seconds=_offset) if _offset else moment


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 with milliseconds: lexicographic order is chronological order,
    which the owner index's sort key relies on."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(now())


def epoch() -> float:
    return time.time() + _offset


def epoch_seconds() -> int:
    return int(epoch())


def parse_iso(text: str) -> float:
    """Epoch seconds of a time this module wrote (``iso``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
