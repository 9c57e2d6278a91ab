"""What the commands print for people (``--json`` prints the API's or the deploy's object instead).

ASCII only: a terminal with ``LANG=C`` or a Windows console must not turn a finished deploy into
a UnicodeEncodeError."""

from __future__ import annotations

from typing import Any

from sitedeploy_cli.deploy import DeployResult
from sitedeploy_cli.progress import format_bytes


def deployment_line(d: dict[str, Any]) -> str:
    """One deployment on one line, for ``list`` and ``status``."""
    line = f"{d['deploymentId']}  {d.get('platform', ''):<10} {d.get('status', ''):<9} {d.get('progress') or 0:>3}%"
    line += f"  {d.get('projectName', '')}  {d.get('url') or ''}"
    if d.get("localUrl"):
        line += f"  (local: {d['localUrl']})"
    if d.get("kind") not in (None, "deploy"):
        line += f"  {d['kind']} of {d.get('sourceDeploymentId')}"
    if d.get("target") == "preview":
        line += f"  preview: {d.get('previewUrl') or '(not yet)'}"
    if d.get("error"):
        line += f"  error: {d['error']}"
    return line


def version_line(d: dict[str, Any]) -> str:
    """One version of a site, for ``versions``: live (*) and whether it can come back (r)."""
    mark = "*" if d.get("live") else ("r" if d.get("rollbackAvailable") else " ")
    return f"{mark} {deployment_line(d)}"


def _files(n: int) -> str:
    return f"{n:,} file{'' if n == 1 else 's'}"


def deploy_summary(result: DeployResult) -> list[str]:
    """The lines a finished (or, with --no-wait, accepted) deploy prints on stdout."""
    if result.preview_url or result.local_preview_url:
        lines = [f"{result.status}: preview at {result.preview_url or '(no URL yet)'}"]
        if result.local_preview_url:
            lines.append(f"local: {result.local_preview_url}")
        lines.append(f"production (unchanged): {result.url or '(none yet)'}")
    else:
        lines = [f"{result.status}: {result.url or '(no URL yet)'}"]
        if result.local_url:
            lines.append(f"local: {result.local_url}")
    sent = f"uploaded {_files(result.uploaded_files)} ({format_bytes(result.uploaded_bytes)})"
    if result.already_staged:
        sent += f", {result.already_staged:,} already there"
    lines.append(
        f"deployment {result.deployment_id}: {result.project_name} on {result.platform}, "
        f"{_files(result.files)} ({format_bytes(result.total_bytes)}); {sent}; {result.seconds:.1f}s"
    )
    if result.status not in {"ready", "error"}:
        lines.append(f"follow it with: sitedeploy status {result.deployment_id}")
    return lines
