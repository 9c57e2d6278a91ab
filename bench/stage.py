"""Put a synthetic site on the local stack the way the upload path does (blobs in S3 by sha256, a
manifest object, a pending deployment) and follow it through the status endpoint to the end."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import urllib3

from bench.synthetic import manifest_for
from sitedeploy.domain import clock
from sitedeploy.domain.models import AuthMode, DeploymentRecord, Platform
from sitedeploy.domain.naming import derived_name, site_id
from sitedeploy.stores.deployments import DeploymentsRepository, new_deployment_id
from sitedeploy.stores.staging import Staging
from sitedeploy_local.stack import LOCAL_AMPLIFY_APP_ID, LocalStack

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
    staging = Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))
    repo = DeploymentsRepository(stack.resource("DeploymentsTable"), stack.moto.client("dynamodb"))
    manifest = manifest_for(site)
    deployment_id = new_deployment_id()
    staging.put_manifest(deployment_id, manifest)
    now = clock.now_iso()
    name = derived_name("sd", OWNER, project)
    record = DeploymentRecord(
        deployment_id=deployment_id,
        owner_id=OWNER,
        project_name=project,
        site_id=site_id(OWNER, platform.value, project),
        platform=platform,
        auth_mode=AuthMode.PLATFORM_MANAGED,
        account_id=None if platform is Platform.CLOUDFLARE else LOCAL_AMPLIFY_APP_ID,
        external_name=name,
        file_count=len(manifest.files),
        total_size_bytes=manifest.total_bytes,
        created_at=now,
        updated_at=now,
    )
    http = urllib3.PoolManager()
    auth = {"Authorization": f"Bearer {stack.mint_token(OWNER)}"}
    started = time.monotonic()
    repo.create(record)
    while True:
        answer = json.loads(http.request("GET", f"{stack.api_url}/deployments/{deployment_id}", headers=auth).data)
        if answer["status"] in {"ready", "error"}:
            return Outcome(answer["status"], time.monotonic() - started, answer)
        time.sleep(0.1)


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident set since it started."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
