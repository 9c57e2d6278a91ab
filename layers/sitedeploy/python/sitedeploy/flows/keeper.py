"""Keeping what each site's versions need, for as long as the site keeps them.

Staged files expire by age in the bucket (``StagedBlobRetentionDays``), manifests and deployment
records with the history (``HistoryRetentionDays``): fine for what nothing uses, wrong for the files
of a version a site keeps, which a rollback, a promote or a claim may publish again any day. So
retention follows use: every site with kept versions is queued (``due_for_keeping``), and when it
is due the keeper refreshes the staged objects those versions need that have grown older than a
keeping interval (a copy onto itself restarts the bucket's clock), pushes the versions' records'
expiry forward, and queues the site again one interval later. The interval is a third of the
shortest lifetime involved, so nothing kept comes near its expiry between two passes; what no
kept version names is left to expire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain import clock
from sitedeploy.domain.models import SiteRecord
from sitedeploy.observability import logger, metrics
from sitedeploy.services import Services

DAY = 24 * 3600
SITES_PER_RUN = 500
PAGE = 100


@dataclass
class KeeperReport:
    sites: int = 0
    versions: int = 0
    refreshed: int = 0
    # Versions whose manifest or files were already gone (site id → how many objects).
    lost: dict[str, int] = field(default_factory=dict)


def keep(services: Services, *, max_sites: int = SITES_PER_RUN) -> KeeperReport:
    """One pass over the sites due: refresh what their kept versions need."""
    report = KeeperReport()
    while report.sites < max_sites:
        due = services.stores.sites.due_for_keeping(clock.now_iso(), limit=min(PAGE, max_sites - report.sites))
        if not due:
            break
        for site in due:
            report.sites += 1
            try:
                keep_site(services, site, report)
            except Exception:  # one site's failure must not stop the others; it stays due
                logger.exception("keeping a site's versions failed", extra={"site_id": site.site_id})
                services.stores.sites.kept(site.site_id, due=_next(services, hours=1))
    if report.lost:
        metrics.add_metric(name="KeptVersionFilesLost", unit=MetricUnit.Count, value=sum(report.lost.values()))
    logger.info(
        "kept versions refreshed",
        extra={"sites": report.sites, "versions": report.versions, "refreshed": report.refreshed},
    )
    return report


def keep_site(services: Services, site: SiteRecord, report: KeeperReport) -> None:
    stores, settings = services.stores, services.settings
    if site.deleted_at is not None or not site.versions:
        stores.sites.kept(site.site_id, due=None)
        return
    records = stores.deployments.get_many(site.versions)
    kept = [i for i in site.versions if i in records and records[i].site_generation == site.generation]
    older_than = clock.epoch() - settings.keep_interval_seconds
    lost = 0
    manifests = stores.staging.keep_manifests(kept, older_than=older_than)
    lost += len(manifests.missing)
    blobs: set[str] = set()
    packs: set[str] = set()
    for deployment_id in kept:
        manifest = stores.staging.find_manifest(deployment_id)
        if manifest is None:
            continue
        blobs.update(f.sha256 for f in manifest.files if f.pack is None)
        packs.update(f.pack for f in manifest.files if f.pack is not None)
    files = stores.staging.keep(site.owner_id, blobs, packs, older_than=older_than)
    lost += len(files.missing)
    stores.deployments.keep(kept, clock.epoch_seconds() + settings.history_retention_days * DAY)
    stores.sites.kept(site.site_id, due=_next(services))
    report.versions += len(kept)
    report.refreshed += manifests.refreshed + files.refreshed
    if lost:
        report.lost[site.site_id] = lost
        logger.warning("a kept version's files are gone", extra={"site_id": site.site_id, "missing": lost})


def _next(services: Services, *, hours: float | None = None) -> str:
    wait = hours * 3600 if hours is not None else services.settings.keep_interval_seconds
    return clock.iso(clock.now() + timedelta(seconds=wait))
