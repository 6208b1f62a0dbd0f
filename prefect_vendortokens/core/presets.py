"""The vendor presets: values of ``TokenDialect``, from ``shared/vendors`` (see README "Presets").

Where sources disagree the preset follows the most specific one and the response side accepts
both: SQR's own token page (``/v1/oauth/token``) over its OpenAPI index (``/oauth2/token``);
SQOD's public docs (form body ``grant_type=client_credentials``) over its OpenAPI page (no body).
"""

from __future__ import annotations

from typing import Any

from .dialect import BodyEncoding, ClientAuth, TokenDialect
from .errors import DialectError

_PRESETS: dict[str, TokenDialect] = {
    "sqod": TokenDialect(
        name="sqod",
        default_token_url="https://auth.app.sqod.co.uk/oauth2/token",
        body_encoding=BodyEncoding.FORM,
        client_auth=ClientAuth.BASIC_AND_QUERY,
        basic_auth_urlencode=False,  # vendors' own Basic: the raw id and secret
        client_id_query_param="clientid",
        scope_field="",
    ),
    "cobee": TokenDialect(
        name="cobee",
        default_token_url="https://partners-api.cobee.io/api/v3/oauth/token",
        body_encoding=BodyEncoding.JSON,
        client_auth=ClientAuth.BODY,
        client_id_field="clientId",
        client_secret_field="clientSecret",
        grant_type_field="",
        scope_field="",
        access_token_path=["accessToken", "access_token"],
        token_type_path=["tokenType", "token_type"],
        expires_in_path=["expiresIn", "expires_in"],
        refresh_token_path=[],
        scope_path=[],
        id_token_path=[],
        # 400 answers {"code","message"}, the schema says {"error": <int>, "message"},
        # 429 answers {"error","error_description"}.
        error_code_path=["code", "error"],
        error_message_path=["error_description", "message"],
    ),
    "slashid": TokenDialect(
        name="slashid",
        default_token_url="https://api.slashid.com/oauth2/tokens",
        body_encoding=BodyEncoding.FORM,
        client_auth=ClientAuth.BASIC,
        basic_auth_urlencode=False,
        refresh_grant="refresh_token",
        authorization_code_grant="authorization_code",
        client_id_in_code_grant=True,
        # SlashID's spec names the PKCE verifier field "code_challenge".
        code_verifier_field="code_challenge",
        error_code_path=["errors.0.httpcode", "error"],
        error_message_path=["errors.0.message", "error_description"],
        default_lifetime=86400,
    ),
    "sqr": TokenDialect(
        name="sqr",
        default_token_url="https://api.sqr-group.com/v1/oauth/token",
        body_encoding=BodyEncoding.JSON,
        client_auth=ClientAuth.BODY,
        scope_field="",
    ),
    "resales_online": TokenDialect(
        name="resales_online",
        default_token_url="https://api.propq.com/oauth/token",
        body_encoding=BodyEncoding.FORM,  # must NOT be JSON: the vendor rejects that here only
        client_auth=ClientAuth.BODY,
        client_id_type="integer",
        scope_field="",
        error_code_path=["error"],
        error_message_path=["message", "hint"],
    ),
    "oauth2": TokenDialect(
        name="oauth2",
        body_encoding=BodyEncoding.FORM,
        client_auth=ClientAuth.BASIC,
        basic_auth_urlencode=True,
        refresh_grant="refresh_token",
        authorization_code_grant="authorization_code",
        # RFC 6749 5.2 errors, and RFC 9457 problem+json (title, detail) from other servers.
        error_code_path=["error", "title"],
        error_message_path=["error_description", "detail", "message"],
    ),
}

DIALECT_NAMES: tuple[str, ...] = tuple(_PRESETS)

# Service-account presets for the JWT bearer grant (RFC 7523 2.1). ``get_dialect`` knows them
# and the block offers them as vendors (with grant jwt_bearer); they stay out of DIALECT_NAMES,
# the client-credentials vendors the sandbox emulates.
_GRANT_PRESETS: dict[str, TokenDialect] = {
    # developers.google.com/identity/protocols/oauth2/service-account: an RS256 assertion signed
    # with the key file's private_key (kid = private_key_id), iss = client_email, scopes in the
    # "scope" claim, aud = the token URL, exp at most an hour after iat; the form carries only
    # grant_type and assertion. Answers {"access_token", "expires_in": 3599, "token_type"}.
    # Google's user grants (device, code) also need client_auth "body" with the OAuth client's
    # secret; its device endpoint is below.
    "google": TokenDialect(
        name="google",
        default_token_url="https://oauth2.googleapis.com/token",
        default_device_authorization_url="https://oauth2.googleapis.com/device/code",
        body_encoding=BodyEncoding.FORM,
        client_auth=ClientAuth.NONE,
        refresh_grant="refresh_token",
        authorization_code_grant="authorization_code",
        assertion_scope="claim",
        assertion_lifetime=3600,
        client_id_in_jwt_bearer=False,
    ),
    # help.salesforce.com "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": iss = the
    # connected app's consumer key (the client id), sub = the user name, aud = the login host
    # (https://test.salesforce.com for sandboxes, with that host's token URL), exp within 3
    # minutes; scopes come from the connected app, not the request. The answer has access_token,
    # scope, instance_url (the API base), id and token_type, and no expires_in: the token lives
    # as long as the org's session timeout, 2 hours unless an admin changed it (a shorter one
    # shows as a 401, which the client answers with a new token).
    "salesforce": TokenDialect(
        name="salesforce",
        default_token_url="https://login.salesforce.com/services/oauth2/token",
        body_encoding=BodyEncoding.FORM,
        client_auth=ClientAuth.NONE,
        refresh_grant="refresh_token",
        authorization_code_grant="authorization_code",
        assertion_audience="https://login.salesforce.com",
        assertion_scope="none",
        assertion_lifetime=120,  # under the 3 minutes with room for clock skew
        client_id_in_jwt_bearer=False,
        default_lifetime=7200,
    ),
}
GRANT_PRESET_NAMES: tuple[str, ...] = tuple(_GRANT_PRESETS)


def get_dialect(name: str, **overrides: Any) -> TokenDialect:
    """The preset called ``name``, optionally with fields overridden.

    ``get_dialect("oauth2", client_auth="body")`` is RFC 6749 client_secret_post.
    """
    try:
        preset = _PRESETS[name] if name in _PRESETS else _GRANT_PRESETS[name]
    except KeyError:
        known = ", ".join((*DIALECT_NAMES, *GRANT_PRESET_NAMES))
        raise DialectError(f"unknown dialect preset {name!r}; known presets: {known}") from None
    if not overrides:
        return preset
    return TokenDialect.model_validate({**preset.model_dump(), **overrides})
