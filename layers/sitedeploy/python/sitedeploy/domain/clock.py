"""One notion of time for records, so that sorting by timestamp string equals sorting by time.

Everything that stamps or compares record times reads this module, so a test can move the whole
service's clock forward (``travel``) to see what happens when leases, grace periods or retention
promises run out, without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# Seconds added to the wall clock: 0 in every deployed function; tests move it forward.
_offset = 0.0


def travel(seconds: float) -> None:
    """Move the clock forward by ``seconds`` (tests only)."""
    global _offset  # noqa: PLW0603 - one process-wide clock is the point
    _offset += seconds


def reset() -> None:
    global _offset  # noqa: PLW0603
    _offset = 0.0


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
