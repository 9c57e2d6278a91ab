"""Amplify Hosting's custom domains, as the emulator holds them: an app's domain associations
(``POST /apps/{appId}/domains`` and the rest of botocore's ``*DomainAssociation`` operations), each a
domain name with subdomains (a prefix → a branch of the app), the records Amplify tells its owner to
create, the association's lifecycle driven by the stack's DNS (``dns``), and every available,
verified hostname served by Host on ``domains_port`` from its branch's site.

Why a lifecycle and not a flag: a client of Amplify must cope with an association that is not ready
for a long while, whose records appear late, and which may end FAILED. So, computed lazily from
timestamps and the DNS whenever an association is looked at (as job progress is):

- ``CREATING`` for ``creating_seconds`` (0 by default: the association answers with its records at
  once; set it to see what Amplify really answers first: ``<pending>`` targets and no certificate
  record);
- ``PENDING_VERIFICATION`` until the certificate's validation CNAME (``_<hex>.<domain>. CNAME
  _<hex>.<...>.acm-validations.aws.``) is in the DNS; ``FAILED`` when it is still missing
  ``domain_deadline_seconds`` (a day; Amplify is reported to stop verifying after about 24 hours,
  ACM after 72) after the certificate was requested; a CUSTOM certificate is
  ``IMPORTING_CUSTOM_CERTIFICATE`` for ``certificate_seconds`` instead and needs no record;
- ``PENDING_DEPLOYMENT`` for ``certificate_seconds`` (the certificate onto the distribution);
- ``AVAILABLE``: from then on each subdomain is ``verified`` (for good) once its routing record
  (``CNAME``, or the ``ALIAS``/``ANAME`` an apex needs, to the association's CloudFront target) is
  in the DNS. An UpdateDomainAssociation that changes the subdomains of an available association
  makes it ``UPDATING`` (``updateStatus`` ``PENDING_DEPLOYMENT``) for ``certificate_seconds``, then
  ``AVAILABLE`` again (``UPDATE_COMPLETE``); the hostnames already live keep being served.

Rules (the service's where documented, else the choices named here):

- a hostname (prefix + domain) belongs to one association: one held by another app's answers
  BadRequestException "One or more domains requested are already associated with another Amplify
  app: ..." (Amplify's words); by another association of the same app, BadRequestException too;
- ``max_domains_per_app`` (Amplify's default quota, 5) associations per app: the sixth Create is
  LimitExceededException (429); ``max_subdomains_per_domain`` (50) subdomains per association:
  BadRequestException (the class Amplify uses there is not documented);
- a subdomain's branch must exist on the app (NotFoundException; undocumented which error);
- a domain already associated with the app: BadRequestException;
- UpdateDomainAssociation replaces the subdomain list wholesale (Amplify does: clients merge);
  changing an association's certificate is not emulated (BadRequestException: delete and create);
- a new association gets a new CloudFront target (``d<13>.cloudfront.net``), as after Amplify's
  delete-and-recreate, so records made for an old one no longer verify;
- deleting a branch drops the subdomains pointing at it, and an association left with none; deleting
  the app (or ``delete_apps``, ``reset``) drops its associations. A deleted hostname is free again at
  once (Amplify may keep it blocked for up to an hour).
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sitedeploy_local.emulators.amplify.sites import resolve, with_custom_headers
from sitedeploy_local.emulators.amplify.state import ACCOUNT_ID, AmplifyError, App, Branch, bad
from sitedeploy_local.emulators.hosts import CustomHosts
from sitedeploy_local.emulators.loopback import SiteAnswer

CERTIFICATE_SECONDS = 0.3
DEADLINE_SECONDS = 24 * 3600.0
MAX_DOMAINS_PER_APP = 5
MAX_SUBDOMAINS_PER_DOMAIN = 50
MAX_SUBDOMAIN_SETTINGS = 500  # the model's bound on the list
# botocore's DomainName shape (max 64): two labels at least, the last of two characters or more.
DOMAIN_NAME = re.compile(r"^(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])(\.)?$")
MAX_DOMAIN_NAME = 64
# A prefix: empty (the domain itself), ``*`` (every other name under it) or DNS labels.
PREFIX = re.compile(r"^(\*|((?!-)[a-z0-9-]{1,63}(?<!-))(\.(?!-)[a-z0-9-]{1,63}(?<!-))*)?$")
CERTIFICATE_ARN = re.compile(r"^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/.+$")
IAM_ROLE = re.compile(r"^$|^arn:aws:iam::\d{12}:role.+")
CERTIFICATE_TYPES = ("AMPLIFY_MANAGED", "CUSTOM")
# The record types a routing record may be: a CNAME below the apex, an ALIAS/ANAME at it (a CNAME
# there is what CNAME flattening stores, so it is accepted too).
ROUTING_TYPES = ("CNAME", "ALIAS", "ANAME")
PENDING_TARGET = "<pending>"
_LOWER = string.ascii_lowercase + string.digits
ALREADY_ASSOCIATED = "One or more domains requested are already associated with another Amplify app"
DOMAINS_LIMIT_MESSAGE = "You have reached the maximum number of custom domains in this app."


@dataclass
class SubDomain:
    prefix: str
    branch: str
    verified: bool = False


@dataclass
class Association:
    """One domain association of an app. Times are epoch seconds (``time.time()``)."""

    app_id: str
    name: str  # lower case, no trailing dot
    arn: str
    subdomains: list[SubDomain]
    created: float
    certificate_type: str = "AMPLIFY_MANAGED"
    certificate_arn: str | None = None
    auto_sub_domain: bool = False
    auto_patterns: list[str] | None = None
    auto_role: str | None = None
    target: str = field(default_factory=lambda: f"d{''.join(secrets.choice(_LOWER) for _ in range(13))}.cloudfront.net")
    validation_name: str = ""
    validation_value: str = ""
    validated_at: float | None = None  # when the validation CNAME was first seen in the DNS
    updated_at: float | None = None  # the last Update that changed an available association's subdomains
    failure: str | None = None  # FAILED's statusReason, for good

    def __post_init__(self) -> None:
        if not self.validation_name:
            self.validation_name = f"_{secrets.token_hex(16)}.{self.name}."
            tail = "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
            self.validation_value = f"_{secrets.token_hex(16)}.{tail}.acm-validations.aws."

    def fqdn(self, prefix: str) -> str:
        return f"{prefix}.{self.name}" if prefix else self.name

    def hostnames(self) -> set[str]:
        return {self.fqdn(sub.prefix) for sub in self.subdomains}


# -- request members ---------------------------------------------------------------------------------


def domain_name(raw: Any) -> str:
    """botocore's DomainName: the pattern and the 64 characters (botocore checks neither)."""
    if not isinstance(raw, str) or not raw:
        raise bad("domainName is required.")
    if len(raw) > MAX_DOMAIN_NAME or not DOMAIN_NAME.match(raw):
        raise bad(f"domainName {raw!r} is not a valid domain name (at most {MAX_DOMAIN_NAME} characters).")
    return raw.rstrip(".").lower()


def subdomain_settings(body: dict[str, Any], limit: int) -> list[SubDomain] | None:
    """The ``subDomainSettings`` list (None when absent), each prefix once."""
    raw = body.get("subDomainSettings")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise bad("subDomainSettings must be a list.")
    if len(raw) > MAX_SUBDOMAIN_SETTINGS:
        raise bad(f"subDomainSettings holds at most {MAX_SUBDOMAIN_SETTINGS} items.")
    if not raw:
        raise bad("subDomainSettings must name at least one subdomain.")
    if len(raw) > limit:
        raise bad(f"Too many sub domains requested, the maximum allowed in your account is {limit}")
    found: list[SubDomain] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad(f"subDomainSettings[{index}] must be an object.")
        prefix, branch = item.get("prefix"), item.get("branchName")
        if not isinstance(prefix, str) or len(prefix) > 255 or not PREFIX.match(prefix.lower()):
            raise bad(f"subDomainSettings[{index}].prefix {prefix!r} is not a valid subdomain prefix.")
        if not isinstance(branch, str) or not 1 <= len(branch) <= 255:
            raise bad(f"subDomainSettings[{index}].branchName must be 1 to 255 characters long.")
        prefix = prefix.lower()
        if any(sub.prefix == prefix for sub in found):
            raise bad(f"The subdomain prefix {prefix!r} is requested more than once.")
        found.append(SubDomain(prefix, branch))
    return found


def certificate_settings(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """``certificateSettings`` as (type, customCertificateArn); None when absent."""
    raw = body.get("certificateSettings")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad("certificateSettings must be an object.")
    kind, arn = raw.get("type"), raw.get("customCertificateArn")
    if kind not in CERTIFICATE_TYPES:
        raise bad(f"certificateSettings.type must be one of {', '.join(CERTIFICATE_TYPES)}.")
    if kind == "CUSTOM":
        if not isinstance(arn, str) or not CERTIFICATE_ARN.match(arn):
            raise bad("A CUSTOM certificate needs customCertificateArn, an ACM certificate ARN.")
        return kind, arn
    if arn:
        raise bad("certificateSettings.customCertificateArn is only for a CUSTOM certificate.")
    return kind, None


def auto_settings(body: dict[str, Any]) -> tuple[bool | None, list[str] | None, str | None]:
    """``enableAutoSubDomain``, ``autoSubDomainCreationPatterns``, ``autoSubDomainIAMRole``."""
    enabled, patterns, role = (
        body.get("enableAutoSubDomain"),
        body.get("autoSubDomainCreationPatterns"),
        body.get("autoSubDomainIAMRole"),
    )
    if enabled is not None and not isinstance(enabled, bool):
        raise bad("enableAutoSubDomain must be a boolean.")
    if patterns is not None and (
        not isinstance(patterns, list) or not all(isinstance(p, str) and 1 <= len(p) <= 2048 for p in patterns)
    ):
        raise bad("autoSubDomainCreationPatterns must be a list of 1 to 2048 character strings.")
    if role is not None and (not isinstance(role, str) or len(role) > 1000 or not IAM_ROLE.match(role)):
        raise bad("autoSubDomainIAMRole must be an IAM role ARN.")
    return enabled, patterns, role


# -- the state ---------------------------------------------------------------------------------------


class AmplifyDomains(CustomHosts):
    """Mixed into the Amplify API (after ``AmplifyState``, whose apps, branches and lock it uses):
    ``_associations`` ((appId, domainName) → Association), under the state's lock, and the
    hostnames they serve on ``domains_port``."""

    creating_seconds: float = 0.0
    certificate_seconds: float = CERTIFICATE_SECONDS
    domain_deadline_seconds: float = DEADLINE_SECONDS
    max_domains_per_app: int = MAX_DOMAINS_PER_APP
    max_subdomains_per_domain: int = MAX_SUBDOMAINS_PER_DOMAIN
    region: str
    _associations: dict[tuple[str, str], Association]
    _apps: dict[str, App]
    _lock: threading.RLock

    @abstractmethod
    def _get_app(self, app_id: str) -> App: ...

    @abstractmethod
    def _advance(self, branch: Branch) -> None: ...

    # -- handles for tests ------------------------------------------------------------------------

    def domain_association(self, app_id: str, domain: str) -> dict[str, Any] | None:
        """The association as GetDomainAssociation answers it, or None."""
        with self._lock:
            found = self._associations.get((app_id, domain.rstrip(".").lower()))
            return self._association_view(found) if found else None

    def fail_domain(self, app_id: str, domain: str, reason: str) -> None:
        """The association ends FAILED with ``reason`` (what Amplify reports when, say, CloudFront
        refuses a CNAME another distribution holds)."""
        with self._lock:
            self._associations[(app_id, domain.rstrip(".").lower())].failure = reason

    # -- the operations' work (callers hold the lock) ---------------------------------------------

    def _new_association(self, app_id: str, body: dict[str, Any]) -> Association:
        app = self._get_app(app_id)
        name = domain_name(body.get("domainName"))
        if "subDomainSettings" not in body:
            raise bad("subDomainSettings is required.")
        subdomains = subdomain_settings(body, self.max_subdomains_per_domain)
        assert subdomains is not None
        certificate = certificate_settings(body) or ("AMPLIFY_MANAGED", None)
        enabled, patterns, role = auto_settings(body)
        if (app.app_id, name) in self._associations:
            raise bad(f"Domain {name} is already associated with app {app.app_id}.")
        self._check_branches(app, subdomains)
        if sum(1 for key in self._associations if key[0] == app.app_id) >= self.max_domains_per_app:
            raise AmplifyError("LimitExceededException", DOMAINS_LIMIT_MESSAGE)
        association = Association(
            app_id=app.app_id,
            name=name,
            arn=f"arn:aws:amplify:{self.region}:{ACCOUNT_ID}:apps/{app.app_id}/domains/{name}",
            subdomains=subdomains,
            created=time.time(),
            certificate_type=certificate[0],
            certificate_arn=certificate[1],
            auto_sub_domain=bool(enabled),
            auto_patterns=patterns,
            auto_role=role,
        )
        self._check_free(association, association.hostnames())
        self._associations[(app.app_id, name)] = association
        return association

    def _get_association(self, app_id: str, raw_name: str) -> Association:
        app = self._get_app(app_id)
        name = domain_name(raw_name)
        found = self._associations.get((app.app_id, name))
        if found is None:
            raise AmplifyError("NotFoundException", f"Domain association {name} not found for app {app.app_id}.")
        return found

    def _update_association(self, association: Association, body: dict[str, Any]) -> None:
        subdomains = subdomain_settings(body, self.max_subdomains_per_domain)
        certificate = certificate_settings(body)
        enabled, patterns, role = auto_settings(body)
        current = (association.certificate_type, association.certificate_arn)
        if certificate is not None and certificate != current:
            raise bad("The emulator does not change an association's certificate: delete it and create it again.")
        if subdomains is not None:
            self._check_branches(self._get_app(association.app_id), subdomains)
            self._check_free(association, {association.fqdn(sub.prefix) for sub in subdomains})
            before = {(sub.prefix, sub.branch) for sub in association.subdomains}
            verified = {sub.prefix for sub in association.subdomains if sub.verified}
            for sub in subdomains:  # a record seen for a hostname stays seen
                sub.verified = sub.prefix in verified
            status, _ = self._domain_status(association, time.time())
            if before != {(sub.prefix, sub.branch) for sub in subdomains} and status in ("AVAILABLE", "UPDATING"):
                association.updated_at = time.time()
            association.subdomains = subdomains
        if enabled is not None:
            association.auto_sub_domain = enabled
        if patterns is not None:
            association.auto_patterns = patterns
        if role is not None:
            association.auto_role = role

    def _check_branches(self, app: App, subdomains: list[SubDomain]) -> None:
        for sub in subdomains:
            if sub.branch not in app.branches:
                raise AmplifyError("NotFoundException", f"Branch {sub.branch} not found for app {app.app_id}.")

    def _check_free(self, association: Association, hostnames: set[str]) -> None:
        """Every hostname asked for is nobody else's: not another app's (Amplify's message), not
        another association's of this app."""
        elsewhere: dict[str, Association] = {}
        for other in self._associations.values():
            if other is not association:
                elsewhere.update((hostname, other) for hostname in other.hostnames() & hostnames)
        foreign = sorted(h for h, other in elsewhere.items() if other.app_id != association.app_id)
        if foreign:
            raise bad(f"{ALREADY_ASSOCIATED}: {', '.join(foreign)}")
        if elsewhere:
            hostname, other = sorted(elsewhere.items())[0]
            raise bad(f"{hostname} is already associated with the domain {other.name} of app {other.app_id}.")

    def _drop_domains(self, app_id: str, branch: str | None = None) -> None:
        """The app is gone (``branch`` None), or one of its branches: what pointed at it goes."""
        for key, association in list(self._associations.items()):
            if key[0] != app_id:
                continue
            if branch is not None:
                association.subdomains = [sub for sub in association.subdomains if sub.branch != branch]
            if branch is None or not association.subdomains:
                del self._associations[key]

    # -- the lifecycle ----------------------------------------------------------------------------

    def _domain_status(self, association: Association, now: float) -> tuple[str, str | None]:
        """(domainStatus, updateStatus) now; marks the validation seen, subdomains verified, and
        the association failed past its deadline, as the DNS and the clock say."""
        if association.failure is not None:
            return "FAILED", None
        requested = association.created + self.creating_seconds
        if now < requested:
            return "CREATING", None
        if association.certificate_type == "CUSTOM":
            issued = requested + self.certificate_seconds
            if now < issued:
                return "IMPORTING_CUSTOM_CERTIFICATE", None
        else:
            if association.validated_at is None and self.dns.has(
                association.validation_name, "CNAME", association.validation_value
            ):
                association.validated_at = now
            if association.validated_at is None:
                if now > requested + self.domain_deadline_seconds:
                    association.failure = (
                        f"The certificate for {association.name} could not be verified: the CNAME record "
                        f"{association.validation_name} was not found in time."
                    )
                    return "FAILED", None
                return "PENDING_VERIFICATION", None
            issued = association.validated_at
        if now < issued + self.certificate_seconds:
            return "PENDING_DEPLOYMENT", None
        for sub in association.subdomains:
            if not sub.verified and self._routed(association, sub):
                sub.verified = True
        if association.updated_at is not None:
            if now < association.updated_at + self.certificate_seconds:
                return "UPDATING", "PENDING_DEPLOYMENT"
            return "AVAILABLE", "UPDATE_COMPLETE"
        return "AVAILABLE", None

    def _routed(self, association: Association, sub: SubDomain) -> bool:
        """Whether the DNS sends the subdomain's hostname to the association's target now."""
        name = association.fqdn(sub.prefix)
        return any(self.dns.has(name, kind, association.target) for kind in ROUTING_TYPES)

    def _association_view(self, association: Association) -> dict[str, Any]:
        status, update = self._domain_status(association, time.time())
        creating = status == "CREATING"
        target = PENDING_TARGET if creating else association.target
        view: dict[str, Any] = {
            "domainAssociationArn": association.arn,
            "domainName": association.name,
            "enableAutoSubDomain": association.auto_sub_domain,
            "domainStatus": status,
            "statusReason": association.failure or "",
            "subDomains": [
                {
                    "subDomainSetting": {"prefix": sub.prefix, "branchName": sub.branch},
                    "verified": sub.verified,
                    # Amplify's "<prefix> CNAME <target>": the apex's prefix is empty (a leading space).
                    "dnsRecord": f"{sub.prefix} CNAME {target}",
                }
                for sub in association.subdomains
            ],
        }
        certificate: dict[str, Any] = {"type": association.certificate_type}
        if association.certificate_arn:
            certificate["customCertificateArn"] = association.certificate_arn
        if association.certificate_type == "AMPLIFY_MANAGED" and not creating:
            record = f"{association.validation_name} CNAME {association.validation_value}"
            view["certificateVerificationDNSRecord"] = record
            certificate["certificateVerificationDNSRecord"] = record
        view["certificate"] = certificate
        if update is not None:
            view["updateStatus"] = update
        if association.auto_patterns is not None:
            view["autoSubDomainCreationPatterns"] = list(association.auto_patterns)
        if association.auto_role is not None:
            view["autoSubDomainIAMRole"] = association.auto_role
        return copy.deepcopy(view)

    # -- serving by Host --------------------------------------------------------------------------

    def _live_branch(self, host: str) -> tuple[App, Branch] | None:
        """The app and branch ``host`` reaches: a subdomain of an available (or updating)
        association, verified, whose record the DNS still holds (it is how traffic comes); an exact
        prefix wins over a ``*``."""
        exact: tuple[Association, SubDomain] | None = None
        wildcard: tuple[Association, SubDomain] | None = None
        for association in self._associations.values():
            for sub in association.subdomains:
                if association.fqdn(sub.prefix) == host:
                    exact = (association, sub)
                elif sub.prefix == "*" and host.endswith(f".{association.name}"):
                    wildcard = (association, sub)
        found = exact or wildcard
        if found is None:
            return None
        association, sub = found
        status, _ = self._domain_status(association, time.time())
        if status not in ("AVAILABLE", "UPDATING") or not sub.verified or not self._routed(association, sub):
            return None
        app = self._apps.get(association.app_id)
        branch = app.branches.get(sub.branch) if app else None
        if app is None or branch is None or branch.deleted:
            return None
        return app, branch

    def _host_answer(self, host: str, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer | None:
        with self._lock:
            found = self._live_branch(host)
            if found is None:
                return None
            app, branch = found
            self._advance(branch)
            if branch.site is None:
                return None
            version, rules, header_rules = branch.site, app.rules, app.headers
        return with_custom_headers(resolve(version, rules, method, target), header_rules, target)
