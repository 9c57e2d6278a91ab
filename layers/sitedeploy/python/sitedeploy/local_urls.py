"""Where the local stack's emulators serve a deployed site (``localUrl``), so that a person can open
it in a browser. Active only when the local stack sets ``SITEDEPLOY_LOCAL_CONTROL_URLS`` (a JSON
object: platform → emulator control base URL); in AWS it is absent and this returns None."""

from __future__ import annotations

import json
import os

import urllib3

_http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1.0, read=2.0))


def _control(platform: str) -> str | None:
    raw = os.environ.get("SITEDEPLOY_LOCAL_CONTROL_URLS")
    if not raw:
        return None
    try:
        value = json.loads(raw).get(platform)
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def site_url(platform: str, account: str, name: str) -> str | None:
    base = _control(platform)
    if base is None:
        return None
    try:
        answer = _http.request("GET", f"{base}/site-url", fields={"account": account, "name": name})
    except urllib3.exceptions.HTTPError:
        return None
    if answer.status != 200:
        return None
    try:
        url = json.loads(answer.data).get("url")
    except (ValueError, AttributeError):
        return None
    return str(url) if url else None
