"""EventBridge schedules, locally: each function's ``rate(...)`` schedule invokes it with a
Scheduled Event on that rate, for as long as the stack runs."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime

from sitedeploy_local.runtime import FunctionHost, InvokeError
from sitedeploy_local.template import ACCOUNT_ID, REGION, FunctionSpec

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float | None:
    """``rate(5 minutes)`` → 300; cron expressions are not run locally (None)."""
    found = re.fullmatch(r"rate\((\d+)\s+(\w+)\)", expression.strip())
    if not found or found.group(2) not in _UNITS:
        return None
    return int(found.group(1)) * _UNITS[found.group(2)]


def scheduled_event(function: str) -> dict[str, object]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{function}"],
        "detail": {},
    }


class Scheduler:
    def __init__(self, functions: dict[str, FunctionSpec], hosts: dict[str, FunctionHost]) -> None:
        self._jobs = [
            (hosts[name], seconds)
            for name, spec in functions.items()
            for schedule in spec.schedules
            if (seconds := rate_seconds(schedule.expression)) is not None
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for host, seconds in self._jobs:
            thread = threading.Thread(target=self._run, args=(host, seconds), daemon=True, name=f"schedule-{host.name}")
            thread.start()
            self._threads.append(thread)

    def _run(self, host: FunctionHost, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                host.invoke(scheduled_event(host.name))
            except InvokeError as exc:
                print(f"schedule {host.name}: {exc}", flush=True)

    def stop(self) -> None:
        self._stop.set()
