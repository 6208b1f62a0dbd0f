"""Google service-account key files (JSON), as Google hands them out, pasted or read from Vault.

The file fills a JWT bearer account (``jwt_bearer``): issuer = ``client_email``, key id =
``private_key_id``, key = ``private_key`` (PEM), token URL = ``token_uri``. Errors name the
missing or wrong field and where the file came from, never the key nor the file's text.

The engine's order: ``key = parse_service_account_key(text, where="block 'gcp'")``, then
``build_token_request(get_dialect("google"), key.credentials(scopes), key.grant(subject))``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from .assertion import load_private_key
from .errors import DialectError
from .request import ClientCredentials, JwtBearerGrant
from .url import has_user_info

REQUIRED = ("client_email", "private_key_id", "private_key", "token_uri")
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class ServiceAccountKeyError(DialectError):
    """The service-account key file cannot be used: not JSON, another kind of credentials file,
    or a required field missing or empty. The message names the field, never the key."""


@dataclass(frozen=True)
class ServiceAccountKey:
    """What a JWT bearer grant needs from a key file. ``repr`` leaves out the key."""

    issuer: str  # client_email
    key_id: str  # private_key_id: the assertion's kid, how Google finds the public key
    private_key: SecretStr
    token_uri: str
    client_id: str = ""  # the service account's numeric id (not used on the wire)
    project_id: str = ""

    def __repr__(self) -> str:
        return f"ServiceAccountKey(issuer={self.issuer!r}, key_id={self.key_id!r})"

    def credentials(
        self, scopes: tuple[str, ...] = (), *, token_url: str = "", signing_alg: str = ""
    ) -> ClientCredentials:
        """The account for ``build_token_request``: the key file's token URI unless ``token_url``
        overrides it (a test server, a private endpoint), the client id = ``client_email``."""
        return ClientCredentials(
            token_url=token_url or self.token_uri,
            client_id=self.issuer,
            client_secret=SecretStr(""),
            scopes=tuple(scopes),
            private_key=self.private_key,
            key_id=self.key_id,
            signing_alg=signing_alg,
        )

    def grant(self, subject: str = "", scopes: tuple[str, ...] | None = None) -> JwtBearerGrant:
        """The grant: ``subject`` is the user to act for (domain-wide delegation), else none."""
        return JwtBearerGrant(issuer=self.issuer, subject=subject, scopes=scopes)


def parse_service_account_key(
    text: str | SecretStr | dict[str, Any], *, where: str = "", vendor: str = "google"
) -> ServiceAccountKey:
    """A key file's JSON text (or its parsed object, as Vault's KV may hold it) as a
    ``ServiceAccountKey``. ``where`` names its origin in errors ("block 'gcp'", "Vault path
    secret/gcp"). The private key is checked to load, so a mangled paste fails here."""
    prefix = f"{where}: " if where else ""

    def fail(problem: str) -> ServiceAccountKeyError:
        return ServiceAccountKeyError(f"{prefix}the service-account key file {problem}", vendor=vendor)

    if isinstance(text, dict):
        data: Any = text
    else:
        raw = text.get_secret_value() if isinstance(text, SecretStr) else text
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise fail("is not JSON (paste the whole downloaded file)") from None
    if not isinstance(data, dict):
        raise fail("is not a JSON object")
    kind = data.get("type", "service_account")
    if kind != "service_account":
        raise fail(f"is of type {str(kind)[:40]!r}, not 'service_account'")
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise fail(f"has no {', '.join(missing)}")
    for name in (*REQUIRED, "client_id", "project_id"):
        value = data.get(name, "")
        if not isinstance(value, str) or (name in REQUIRED and not value.strip()):
            raise fail(f"field {name!r} is empty or not text")
    token_uri = data["token_uri"].strip()
    if not token_uri.startswith(("https://", "http://")) or has_user_info(token_uri):
        raise fail("field 'token_uri' is not an http(s) URL without user-info")
    try:
        load_private_key(data["private_key"], vendor=vendor)
    except DialectError:
        raise fail("field 'private_key' is not a PEM private key") from None
    return ServiceAccountKey(
        issuer=data["client_email"].strip(),
        key_id=data["private_key_id"].strip(),
        private_key=SecretStr(data["private_key"]),
        token_uri=token_uri,
        client_id=data.get("client_id", ""),
        project_id=data.get("project_id", ""),
    )
