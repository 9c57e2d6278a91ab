"""Dev identity: a local issuer whose RS256 key signs the tokens the gateway accepts, and the
checks API Gateway's JWT authorizer makes (signature, issuer, audience, expiry)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LOCAL_ISSUER = "https://auth.sitedeploy.local/"
LOCAL_AUDIENCE = "sitedeploy-local"
KEY_ID = "sitedeploy-local-1"


class AuthorizerDenied(Exception):
    """The token would not pass API Gateway's JWT authorizer."""


@dataclass
class DevIssuer:
    private_key: rsa.RSAPrivateKey
    issuer: str = LOCAL_ISSUER
    audience: str = LOCAL_AUDIENCE

    @classmethod
    def load_or_create(cls, key_path: Path | None = None, **kwargs: Any) -> DevIssuer:
        """Reuse the key in ``key_path`` so that printed tokens survive a restart of the stack."""
        if key_path and key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if isinstance(loaded, rsa.RSAPrivateKey):
                return cls(private_key=loaded, **kwargs)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_path:
            key_path.parent.mkdir(parents=True, exist_ok=True)
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_path.chmod(0o600)
        return cls(private_key=key, **kwargs)

    def mint(self, sub: str, *, ttl: int = 24 * 3600, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "token_use": "id",
        }
        claims.update(overrides)
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KEY_ID})


class JwtAuthorizer:
    """What API Gateway's HTTP API JWT authorizer checks; anything else answers 401."""

    def __init__(self, issuer: str, audiences: list[str], public_keys: dict[str, Any]) -> None:
        self.issuer = issuer
        self.audiences = audiences
        self.public_keys = public_keys

    def verify(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise AuthorizerDenied("no token")
        token = authorization.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            key = self.public_keys.get(str(header.get("kid")))
            if key is None:
                raise AuthorizerDenied("unknown signing key")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audiences,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthorizerDenied(str(exc)) from None
        return claims


def claims_as_api_gateway_sends(claims: dict[str, Any]) -> dict[str, str]:
    """HTTP API hands claims to Lambda as strings; arrays become "[a b]"."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        else:
            out[name] = str(value)
    return out
