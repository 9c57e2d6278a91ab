"""An Amplify deployment job: its record, its progress, and the preparation of its files.

Progress is computed lazily from timestamps (no timer thread): once a started job is granted one of
the region's build slots (``granted``; at once when concurrent jobs are unlimited, otherwise when the
state's scheduling pass gives it a freed slot) it is PENDING for one step time, then RUNNING with a
DEPLOY step, then a VERIFY step (each one step time, DEPLOY at least as long as unpacking the zip
takes), then SUCCEED. A started job still waiting for a slot is PENDING with no steps. A job that was
created but not started is CREATED; StopJob makes it CANCELLING, and CANCELLED a cancel time later.
``job_state`` is that computation; the state freezes a job's result once it is final.

Preparing a deployment happens off the request path: the uploaded zip (or the file at ``sourceUrl``,
fetched only from loopback) is unpacked into a ``SiteVersion``, or the job fails with the reason
Amplify would give (``JobFailure``: a corrupt zip, unsafe or backslash paths, no ``index.html`` at
the root).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import threading
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sitedeploy_local.emulators.amplify.sites import SiteVersion

DEPLOY_STEP = "DEPLOY"
VERIFY_STEP = "VERIFY"
FINAL_STATUSES = frozenset({"SUCCEED", "FAILED", "CANCELLED"})
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Progress = tuple[str, list[dict[str, Any]], float | None]  # status, steps, endTime (None: not ended)


class JobFailure(Exception):
    """A deployment that cannot succeed; the message becomes the DEPLOY step's statusReason."""


@dataclass
class Outcome:
    ready_at: float
    version: SiteVersion | None = None
    error: str | None = None


@dataclass
class Job:
    job_id: str
    arn: str
    created: float
    upload_id: str
    signature: str
    zip_path: Path | None = None
    zip_bytes: int = 0
    started: float | None = None  # StartDeployment's moment (the summary's startTime)
    granted: float | None = None  # when it got a build slot: its timeline runs from here
    source_url: str | None = None
    source_url_type: str | None = None
    forced_failure: tuple[str, str] | None = None  # (step, reason)
    deploy_delay: float = 0.0
    verify_delay: float = 0.0
    outcome: Outcome | None = None
    cancel_at: float | None = None
    final: tuple[str, list[dict[str, Any]], float] | None = None  # status, steps, endTime
    orphaned: bool = False
    log: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.log.append(f"{stamp} {text}")


# -- progress -----------------------------------------------------------------------------------------

# Where a step's log is served: (job, step name) -> URL.
LogUrl = Callable[[Job, str], str]


def job_state(job: Job, moment: float, *, step_seconds: float, cancel_seconds: float, log_url: LogUrl) -> Progress:
    """The job's status, steps and endTime as of ``moment``, cancellation included."""
    if job.final is not None:
        return job.final
    if job.cancel_at is None:
        return _progress(job, moment, step_seconds, log_url)
    status, steps, end = _progress(job, job.cancel_at, step_seconds, log_url)
    if status in FINAL_STATUSES:  # it had finished before the stop arrived
        return status, steps, end
    done_at = job.cancel_at + cancel_seconds
    label = "CANCELLED" if moment >= done_at else "CANCELLING"
    steps = [
        step | {"status": label, "endTime": done_at if label == "CANCELLED" else step["startTime"]}
        if step["status"] == "RUNNING"
        else step
        for step in steps
    ]
    return label, steps, (done_at if label == "CANCELLED" else None)


def _step(
    job: Job,
    name: str,
    status: str,
    log_url: LogUrl,
    *,
    start: float,
    end: float | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "stepName": name,
        "startTime": start,
        "status": status,
        # Required by the model even while the step runs: the start time stands in until it ends.
        "endTime": end if end is not None else start,
        "logUrl": log_url(job, name),
    }
    if reason:
        step["statusReason"] = reason[:1000]
    return step


def _progress(job: Job, t: float, s: float, log_url: LogUrl) -> Progress:
    """The job's status, steps and endTime as of time ``t`` (ignoring cancellation), with steps of
    ``s`` seconds, counted from the moment the job was granted a build slot (until then, PENDING)."""
    if job.started is None or t < job.started:
        return "CREATED", [], None
    if job.granted is None or t < job.granted + s:
        return "PENDING", [], None
    deploy_start = job.granted + s
    deploy_min_end = deploy_start + s + job.deploy_delay
    deploying = [_step(job, DEPLOY_STEP, "RUNNING", log_url, start=deploy_start)]
    forced = job.forced_failure
    if forced is not None and forced[0] == DEPLOY_STEP:
        if t < deploy_min_end:
            return "RUNNING", deploying, None
        end = deploy_min_end
        failed = _step(job, DEPLOY_STEP, "FAILED", log_url, start=deploy_start, end=end, reason=forced[1])
        return "FAILED", [failed], deploy_min_end
    outcome = job.outcome
    if outcome is None or t < max(deploy_min_end, outcome.ready_at):
        return "RUNNING", deploying, None
    deploy_end = max(deploy_min_end, outcome.ready_at)
    if outcome.error is not None:
        reason = outcome.error
        failed = _step(job, DEPLOY_STEP, "FAILED", log_url, start=deploy_start, end=deploy_end, reason=reason)
        return "FAILED", [failed], deploy_end
    deployed = _step(job, DEPLOY_STEP, "SUCCEED", log_url, start=deploy_start, end=deploy_end)
    verify_end = deploy_end + s + job.verify_delay
    if t < verify_end:
        return "RUNNING", [deployed, _step(job, VERIFY_STEP, "RUNNING", log_url, start=deploy_end)], None
    if forced is not None:
        reason = forced[1]
        failed = _step(job, VERIFY_STEP, "FAILED", log_url, start=deploy_end, end=verify_end, reason=reason)
        return "FAILED", [deployed, failed], verify_end
    verified = _step(job, VERIFY_STEP, "SUCCEED", log_url, start=deploy_end, end=verify_end)
    return "SUCCEED", [deployed, verified], verify_end


# -- the files ------------------------------------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    """Whether a ``sourceUrl``'s host is this machine (the only place the emulator fetches from)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def download(url: str, destination: Path, max_bytes: int) -> None:
    """Fetch a ``sourceUrl`` (no proxy); JobFailure when it cannot be had or is too large."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    size = 0
    try:
        with opener.open(url, timeout=60) as response, destination.open("wb") as sink:
            while chunk := response.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise JobFailure(f"The file at sourceUrl is larger than {max_bytes} bytes.")
                sink.write(chunk)
    except urllib.error.HTTPError as exc:
        raise JobFailure(f"Could not download the sourceUrl: HTTP {exc.code}.") from None
    except (urllib.error.URLError, OSError) as exc:
        raise JobFailure(f"Could not download the sourceUrl: {exc}.") from None


def unpack(zip_path: Path, destination: Path, job_id: str) -> SiteVersion:
    """Extract a deployment zip (streamed, entry by entry) or say why Amplify would not serve it."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise JobFailure(f"The zip file could not be read ({exc}); upload a valid .zip archive.") from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if not entries:
            raise JobFailure("The zip file holds no files; zip the contents of the build output folder.")
        names: dict[str, zipfile.ZipInfo] = {}
        for info in entries:
            name = info.filename
            if "\\" in name:
                raise JobFailure(
                    f"The zip entry {name!r} uses backslashes; zip paths must use '/' "
                    "(re-create the zip with a tool that writes POSIX paths)."
                )
            parts = PurePosixPath(name).parts
            unsafe = name.startswith("/") or any(p in ("..", ".") for p in parts) or CONTROL.search(name)
            if unsafe or not parts:
                raise JobFailure(f"The zip entry {name!r} is not a safe relative path.")
            names["/".join(parts)] = info
        if "index.html" not in names:
            tops = {name.split("/", 1)[0] for name in names}
            if len(tops) == 1 and all("/" in name for name in names):
                folder = tops.pop()
                raise JobFailure(
                    f"No index.html at the root of the zip: every file is inside the folder '{folder}/'. "
                    "Amplify serves the zip's root, so this site would answer 404 Not Found; zip the "
                    "folder's contents, not the folder itself."
                )
            raise JobFailure(
                "No index.html at the root of the zip; Amplify would answer 404 Not Found at the site's root."
            )
        total = 0
        try:
            for name, info in names.items():
                target = destination / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1024 * 1024)
                total += info.file_size
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise JobFailure(f"The zip file is corrupt ({exc}); upload a valid .zip archive.") from None
        except OSError as exc:
            raise JobFailure(f"The zip file could not be unpacked ({exc.strerror or exc}).") from None
    return SiteVersion(root=destination, files=frozenset(names), job_id=job_id, total_bytes=total)


def discard(version: SiteVersion | None) -> None:
    """Remove a version's files off the request path (a large site takes a while to delete)."""
    if version is not None:
        threading.Thread(target=version.remove, daemon=True, name="amplify-discard").start()
