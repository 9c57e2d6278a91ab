"""One notion of time for records, so that sorting by timestamp string equals sorting by time."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 with milliseconds: lexicographic order is chronological order,
    which the owner index's sort key relies on."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(now())


def epoch_seconds() -> int:
    return int(time.time())
