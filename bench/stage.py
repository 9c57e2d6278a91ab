"""Put a synthetic site on the local stack the way the upload path does (blobs in S3 by sha256, then
a deploy by manifest through the API) and follow it through the status endpoint to the end."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import urllib3

from bench.synthetic import manifest_for
from sitedeploy.domain.models import Platform
from sitedeploy.stores.staging import Staging
from sitedeploy_local.stack import LocalStack

OWNER = "bench-user"


@dataclass
class Outcome:
    status: str
    seconds: float
    record: dict[str, object]


def stage(stack: LocalStack, site: dict[str, bytes]) -> int:
    """Stage the blobs this owner lacks; returns the bytes sent client → S3."""
    staging = Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))
    manifest = manifest_for(site)
    missing = staging.missing(OWNER, {f.sha256 for f in manifest.files})
    sent = 0
    for entry in manifest.files:
        if entry.sha256 in missing:
            staging.put_blob(OWNER, site[entry.path], entry.sha256)
            missing.discard(entry.sha256)
            sent += entry.size
    return sent


def publish(stack: LocalStack, site: dict[str, bytes], project: str, platform: Platform) -> Outcome:
    """Deploy the staged site by manifest through the API (placement, claims and all, as a client
    would) and follow it through the status endpoint to the end."""
    http = urllib3.PoolManager()
    auth = {"Authorization": f"Bearer {stack.mint_token(OWNER)}", "Content-Type": "application/json"}
    manifest = {f.path: f.sha256 for f in manifest_for(site).files}
    body = json.dumps({"manifest": manifest, "projectName": project}).encode()
    started = time.monotonic()
    answer = http.request("POST", f"{stack.api_url}/deployments/{platform.value}", body=body, headers=auth)
    accepted = json.loads(answer.data)
    if answer.status != 202:
        raise RuntimeError(f"deploy refused: {answer.status} {accepted}")
    while True:
        state = json.loads(http.request("GET", f"{stack.api_url}{accepted['statusUrl']}", headers=auth).data)
        if state["status"] in {"ready", "error"}:
            return Outcome(state["status"], time.monotonic() - started, state)
        time.sleep(0.1)


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident set since it started."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
