"""What a user would script instead of sitedeploy to put a folder on Amplify Hosting (manual
deploys, no Git): zip the folder, ``create_deployment``, PUT the zip to its URL, ``start_deployment``,
poll ``get_job`` until the job succeeds. The first run also makes the app and the branch. Run as
its own process by ``bench.versus_amplify``, as a user would run it.

    python bench/amplify_script.py FOLDER --app-name NAME [--app-id ID] [--poll 1.0]

Prints one JSON line: the app id, the job's status and the time each step took."""

from __future__ import annotations

import argparse
import io
import json
import os
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--app-name", required=True)
    parser.add_argument("--app-id")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--poll", type=float, default=1.0)
    args = parser.parse_args()
    steps: dict[str, float] = {}
    mark = time.monotonic()

    def step(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        steps[name] = round(now - mark, 3)
        mark = now

    amplify = boto3.client("amplify", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    app_id = args.app_id
    if not app_id:
        app_id = amplify.create_app(name=args.app_name, platform="WEB")["app"]["appId"]
        amplify.create_branch(appId=app_id, branchName=args.branch)
        step("create app and branch")
    body = zipped(args.folder)
    step("zip")
    created = amplify.create_deployment(appId=app_id, branchName=args.branch)
    step("create_deployment")
    request = urllib.request.Request(created["zipUploadUrl"], data=body, method="PUT")
    request.add_header("Content-Type", "application/zip")
    with urllib.request.urlopen(request, timeout=600) as answer:
        answer.read()
    step("PUT zip")
    job_id = created["jobId"]
    amplify.start_deployment(appId=app_id, branchName=args.branch, jobId=job_id)
    step("start_deployment")
    while True:
        status = amplify.get_job(appId=app_id, branchName=args.branch, jobId=job_id)["job"]["summary"]["status"]
        if status in {"SUCCEED", "FAILED", "CANCELLED"}:
            break
        time.sleep(args.poll)
    step("poll get_job")
    print(json.dumps({"appId": app_id, "status": status, "steps": steps}))


if __name__ == "__main__":
    main()
