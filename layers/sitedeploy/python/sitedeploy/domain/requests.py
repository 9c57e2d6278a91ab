"""The body of ``POST /deployments/{platform}``: the front end's DeployRequestBody.

Everything is checked here, before any work: unknown fields, paths, base64, limits, and the
credentials a mode needs. Inline file bodies are decoded once and kept as bytes; a text body is
encoded as UTF-8 and never decoded again on its way to the platform."""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sitedeploy.domain.models import AuthMode, HtmlHandling, Target
from sitedeploy.domain.sitefiles import PathError, normalize_path

# Lambda takes at most 6 MB of request; inline bodies can never be more than that once decoded.
INLINE_TOTAL_LIMIT = 6 * 1000 * 1000

# One /uploads call takes up to 1,000 files in the CLI's batches; 100 cover the largest manifest.
MAX_UPLOAD_RECEIPTS = 100
ReceiptId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
ChatId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
ProjectName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class InlineFile(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    data: str
    encoding: Literal["base64", "utf-8", "utf8"] = "base64"


class StagedFile(BaseModel):
    """A file decoded from the request: its normalised path, bytes and sha256."""

    model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)

    path: str
    data: bytes
    sha256: str


class DeployRequest(BaseModel):
    """Fields common to both platforms; platform subclasses add their user-token fields.

    The front end sends its connection store's fields with every request, Quick Deploy included,
    and an unset field as an empty string. So an empty user-token field means "not given", and in
    platform-managed mode every user-token field is dropped before validation: never checked, used,
    stored, fingerprinted or logged, whatever it holds."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    # Wire names of the fields only user-token mode reads (each platform lists its own).
    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset()

    files: dict[str, str | InlineFile] | None = Field(default=None, min_length=1)
    # Instead of files: path → sha256 of blobs staged beforehand through /uploads.
    manifest: dict[str, Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]] | None = Field(
        default=None, min_length=1
    )
    # The ``receipt`` of each /uploads call that staged this manifest: what they found staged is
    # not looked up again. A hint only: an unknown or stale receipt just means looking up.
    upload_receipts: list[ReceiptId] | None = Field(default=None, max_length=MAX_UPLOAD_RECEIPTS)
    chat_id: ChatId | None = None
    project_name: ProjectName | None = None
    auth_mode: AuthMode = AuthMode.PLATFORM_MANAGED
    spa: StrictBool | None = None
    html_handling: HtmlHandling | None = None
    # A preview is published beside production, which keeps serving what it served.
    target: Target = Target.PRODUCTION

    _staged: list[StagedFile] = PrivateAttr(default_factory=list)
    _manifest: dict[str, str] = PrivateAttr(default_factory=dict)
    # Bounds checked at the edge; a platform's request narrows them to its own limits.
    _max_file_bytes: int = 5 * 1024**3
    _max_files: int = 20_000

    @model_validator(mode="before")
    @classmethod
    def _front_end_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls.USER_TOKEN_FIELDS:
            return data
        names = cls.USER_TOKEN_FIELDS | {_snake(name) for name in cls.USER_TOKEN_FIELDS}
        mode = data.get("authMode", data.get("auth_mode", AuthMode.PLATFORM_MANAGED.value))
        quick = mode == AuthMode.PLATFORM_MANAGED.value
        return {k: v for k, v in data.items() if k not in names or not (quick or v == "")}

    @model_validator(mode="after")
    def _decode_and_check(self) -> DeployRequest:
        if (self.files is None) == (self.manifest is None):
            raise ValueError("send either files (inline) or manifest (staged through /uploads), not both or neither")
        if self.upload_receipts and self.manifest is None:
            raise ValueError("uploadReceipts go with a manifest (files staged through /uploads)")
        if self.manifest is not None:
            return self._check_manifest(self.manifest)
        assert self.files is not None
        if len(self.files) > self._max_files:
            raise ValueError(f"{len(self.files)} files is more than the limit of {self._max_files}")
        staged: list[StagedFile] = []
        total = 0
        for path, body in _normalised(self.files).items():
            data = _decode(path, body)
            if len(data) > self._max_file_bytes:
                raise ValueError(
                    f"file {path!r} is {len(data)} bytes, over the limit of {self._max_file_bytes} bytes per file"
                )
            total += len(data)
            if total > INLINE_TOTAL_LIMIT:
                raise ValueError(
                    f"inline files add up to more than {INLINE_TOTAL_LIMIT} bytes; upload larger sites with /uploads"
                )
            staged.append(StagedFile(path=path, data=data, sha256=hashlib.sha256(data).hexdigest()))
        self._staged = staged
        return self

    def _check_manifest(self, manifest: dict[str, str]) -> DeployRequest:
        if len(manifest) > self._max_files:
            raise ValueError(f"{len(manifest)} files is more than the limit of {self._max_files}")
        self._manifest = _normalised(manifest)
        return self

    @property
    def staged_files(self) -> list[StagedFile]:
        return self._staged

    @property
    def staged_manifest(self) -> dict[str, str]:
        """Normalised path → sha256, when the request names blobs staged through /uploads."""
        return self._manifest

    @property
    def max_file_bytes(self) -> int:
        return self._max_file_bytes

    def project(self) -> str:
        """Redeploys of one project land on one site: the project name, else the chat, else 'site'."""
        return self.project_name or self.chat_id or "site"

    def inline_credentials(self) -> BaseModel | None:
        """The user's credentials sent with the request (each platform's request reads its fields);
        None means "use the stored connection"."""
        return None


V = TypeVar("V")


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _normalised(entries: dict[str, V]) -> dict[str, V]:
    """Keys normalised to site paths; two spellings of one path (``/a`` and ``a``, or two Unicode
    spellings of one name, ``é`` composed and decomposed, which file systems and URLs may treat as
    one) are refused, naming both."""
    seen: dict[str, str] = {}
    out: dict[str, V] = {}
    for raw_path, value in entries.items():
        try:
            path = normalize_path(raw_path)
        except PathError as exc:
            raise ValueError(str(exc)) from None
        same = unicodedata.normalize("NFC", path)
        if same in seen:
            raise ValueError(f"paths {seen[same]!r} and {raw_path!r} name the same file")
        seen[same] = raw_path
        out[path] = value
    return out


def _decode(path: str, body: str | InlineFile) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if body.encoding in {"utf-8", "utf8"}:
        return body.data.encode("utf-8")
    try:
        return base64.b64decode(body.data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"file {path!r} is not valid base64") from None
