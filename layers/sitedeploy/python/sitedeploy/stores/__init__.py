"""Where the service keeps things: deployment records, sites, staged files, users' connections,
the service's own secret, the sealer for users' credentials and the idempotency records.

``Stores`` is built once per execution environment from Settings and handed to the flows; the
protocols below are what the flows rely on, so a test hands in the in-memory fakes of
``tests/fakes`` instead of AWS."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sitedeploy.domain.models import Connection, DeploymentRecord, DeploymentStatus, Platform, SiteRecord
from sitedeploy.domain.sitefiles import SiteManifest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer

    from sitedeploy.settings import Settings
    from sitedeploy.stores.deployments import Page


class DeploymentStore(Protocol):
    def create(self, record: DeploymentRecord) -> None: ...
    def get(self, deployment_id: str) -> DeploymentRecord | None: ...
    def get_for_owner(self, deployment_id: str, owner_id: str) -> DeploymentRecord: ...
    def list_for_owner(
        self, owner_id: str, *, chat_id: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page: ...
    def transition(
        self,
        deployment_id: str,
        to: DeploymentStatus,
        *,
        expected: Iterable[DeploymentStatus] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> DeploymentRecord: ...
    def claim(self, deployment_id: str) -> DeploymentRecord | None: ...
    def set_progress(self, deployment_id: str, status: DeploymentStatus, progress: int) -> DeploymentRecord: ...
    def fail(self, deployment_id: str, message: str) -> DeploymentRecord | None: ...
    def acquire_poll(self, deployment_id: str, *, min_interval: float, now: float | None = None) -> bool: ...
    def list_in_flight(
        self, status: DeploymentStatus, *, updated_before: str, limit: int = 100
    ) -> list[DeploymentRecord]: ...


class SiteStore(Protocol):
    def get(self, site_id: str) -> SiteRecord | None: ...
    def get_for_owner(self, site_id: str, owner_id: str) -> SiteRecord | None: ...
    def record_deploy(self, site: SiteRecord) -> SiteRecord: ...
    def set_url(self, site_id: str, url: str) -> None: ...
    def list_for_owner(self, owner_id: str, *, limit: int = 100) -> list[SiteRecord]: ...
    def delete(self, site_id: str, owner_id: str) -> bool: ...


class BlobStore(Protocol):
    def missing(self, owner_id: str, hashes: Iterable[str]) -> set[str]: ...
    def sizes(self, owner_id: str, hashes: Iterable[str]) -> dict[str, int | None]: ...
    def put_blob(self, owner_id: str, data: bytes, sha256: str | None = None) -> str: ...
    def iter_blob(self, owner_id: str, sha256: str, *, path: str | None = None) -> Iterator[bytes]: ...
    def read_blob(self, owner_id: str, sha256: str, *, path: str | None = None) -> bytes: ...
    def presign_put(self, owner_id: str, sha256: str, size: int, *, expires: int) -> str: ...
    def put_manifest(self, deployment_id: str, manifest: SiteManifest) -> None: ...
    def get_manifest(self, deployment_id: str) -> SiteManifest: ...


class ConnectionStore(Protocol):
    def store(self, owner_id: str, connection: Connection, payload: Mapping[str, Any]) -> Connection: ...
    def get(self, owner_id: str, platform: Platform) -> Connection | None: ...
    def secret(self, owner_id: str, platform: Platform) -> dict[str, Any] | None: ...
    def list(self, owner_id: str) -> list[Connection]: ...
    def delete(self, owner_id: str, platform: Platform) -> bool: ...


class Sealer(Protocol):
    def seal(self, payload: Mapping[str, Any], context: Mapping[str, str]) -> str: ...
    def unseal(self, ciphertext: str, context: Mapping[str, str]) -> dict[str, Any]: ...


class SecretSource(Protocol):
    def section(self, name: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Stores:
    deployments: DeploymentStore
    sites: SiteStore
    staging: BlobStore
    connections: ConnectionStore
    sealer: Sealer
    service_secret: SecretSource
    idempotency: BasePersistenceLayer

    @classmethod
    def from_settings(cls, settings: Settings) -> Stores:
        """The AWS-backed stores: DynamoDB, S3, Secrets Manager and KMS."""
        from sitedeploy.stores.connections import ConnectionsRepository
        from sitedeploy.stores.deployments import DeploymentsRepository
        from sitedeploy.stores.idempotency import persistence
        from sitedeploy.stores.secrets import KmsSealer, ServiceSecret
        from sitedeploy.stores.sites import SitesRepository
        from sitedeploy.stores.staging import Staging

        sealer = KmsSealer(settings.user_tokens_key_id)
        return cls(
            deployments=DeploymentsRepository(settings.deployments_table),
            sites=SitesRepository(settings.deployments_table),
            staging=Staging(settings.staging_bucket),
            connections=ConnectionsRepository(settings.platform_tokens_table, sealer),
            sealer=sealer,
            service_secret=ServiceSecret(settings.platform_credentials_secret),
            idempotency=persistence(settings.idempotency_table),
        )
