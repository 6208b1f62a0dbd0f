"""What names mean: scored word lists for request fields and answer values. General
vocabulary of token endpoints (RFC 6749 and what APIs call the same things), no vendor's name."""

from __future__ import annotations

import re

from .schema import norm

# Request fields. Scores: how sure the name alone makes us.
CLIENT_ID = {
    "clientid": 10,
    "clientkey": 8,
    "appid": 8,
    "applicationid": 8,
    "appkey": 8,
    "consumerkey": 8,
    "accesskeyid": 8,
    "apikey": 7,
    "apikeyid": 8,
    "keyid": 6,
    "accesskey": 7,
    "key": 4,
    "username": 6,
    "user": 4,
    "login": 5,
    "email": 4,
    "clientname": 4,
    "integrationid": 6,
    "identifier": 5,
    "partnerid": 5,
}
CLIENT_SECRET = {
    "clientsecret": 10,
    "secret": 8,
    "apisecret": 9,
    "appsecret": 9,
    "secretkey": 8,
    "consumersecret": 9,
    "secretaccesskey": 9,
    "accesskeysecret": 9,
    "apikeysecret": 9,
    "clientpassword": 8,
    "password": 7,
    "passphrase": 6,
    "apipassword": 8,
    "secretid": 5,
    "token": 2,
}
GRANT = {"granttype": 10, "grant": 7, "flow": 3}
SCOPE = {"scope": 10, "scopes": 10}
REFRESH_TOKEN = {"refreshtoken": 10}
CODE = {"code": 10, "authorizationcode": 10, "authcode": 9}
REDIRECT_URI = {"redirecturi": 10, "redirecturl": 9, "callbackurl": 6}
VERIFIER = {"codeverifier": 10, "verifier": 6, "pkceverifier": 9}

# Answer values.
ACCESS_TOKEN = {
    "accesstoken": 10,
    "token": 8,
    "authtoken": 8,
    "authenticationtoken": 8,
    "bearertoken": 8,
    "bearer": 5,
    "sessiontoken": 7,
    "jwt": 7,
    "apitoken": 7,
    "jwttoken": 7,
    "accesstokenvalue": 7,
}
TOKEN_TYPE = {"tokentype": 10, "type": 3, "scheme": 3}
EXPIRES_IN = {
    "expiresin": 10,
    "expirein": 9,
    "expiresinseconds": 10,
    "ttl": 8,
    "lifetime": 7,
    "validfor": 6,
    "validity": 6,
    "expiresinsec": 9,
    "maxage": 5,
    "duration": 4,
    "expires": 4,
    "expiry": 3,
    "expiration": 3,
    "timeout": 3,
}
EXPIRES_AT = {
    "expiresat": 10,
    "expireat": 9,
    "expiration": 7,
    "expirationdate": 8,
    "expirationtime": 8,
    "expiry": 5,
    "expires": 5,
    "exp": 7,
    "validuntil": 8,
    "expireson": 8,
    "expiretime": 8,
    "notafter": 7,
    "validto": 7,
    "expirydate": 8,
    "expirytime": 8,
    "accesstokenexpiresat": 9,
    "tokenexpiry": 7,
    "expirationtimestamp": 9,
    "expiresattime": 9,
}
REFRESH = {"refreshtoken": 10}
REFRESH_EXPIRES_IN = {"refreshexpiresin": 10, "refreshtokenexpiresin": 10, "refreshttl": 8}
ANSWER_SCOPE = {"scope": 10, "scopes": 9, "grantedscopes": 8}
ID_TOKEN = {"idtoken": 10}
ERROR_CODE = {
    "error": 8,
    "code": 8,
    "errorcode": 10,
    "errortype": 7,
    "httpcode": 5,
    "statuscode": 5,
    "status": 3,
    "type": 3,
    "title": 3,
    "reason": 3,
    "errorkey": 6,
    "errorid": 4,
    "name": 1,
}
ERROR_MESSAGE = {
    "errordescription": 10,
    "errormessage": 10,
    "message": 9,
    "msg": 8,
    "detail": 8,
    "details": 6,
    "description": 6,
    "hint": 5,
    "reason": 5,
    "errormsg": 9,
    "title": 3,
    "errors": 2,
}
ERROR_CONTAINERS = {"error", "errors", "err", "fault", "failure", "problem"}


def score(name: str, table: dict[str, int]) -> int:
    return table.get(norm(name), 0)


_LIFETIME = re.compile(
    r"\b(?:valid|expires?|lasts?|lifetime|live|good)\b[^.]{0,40}?\b(\d+(?:\.\d+)?)\s*"
    r"(seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|d)\b",
    re.IGNORECASE,
)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "hour": 3600, "d": 86400, "day": 86400}


def lifetime_in(text: str) -> float | None:
    """A token lifetime a description states ("tokens are valid for 24 hours")."""
    match = _LIFETIME.search(text)
    if match is None:
        return None
    unit = match.group(2).lower().rstrip("s") or "s"
    unit = {"second": "s", "minute": "m", "secs": "s", "mins": "m", "hrs": "hr"}.get(unit, unit)
    factor = _UNITS.get(unit) or _UNITS.get(unit[:1], 0)
    return float(match.group(1)) * factor or None


def mentions(text: str, *words: str) -> bool:
    low = text.lower()
    return any(w in low for w in words)
