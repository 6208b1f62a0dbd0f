"""The table of Vault auth methods: what each needs from the block, its default mount and how it
logs in. The block's choice, its validation and the session's login all read this table; a new
method that uses the block's fields is one row (and its login call)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# (hvac's client.auth, the login spec, a reader of the JWT from the spec or its file) -> Vault's answer
Login = Callable[[Any, "VaultLogin", Callable[[], str]], dict[str, Any]]


@dataclass(frozen=True)
class VaultLogin:
    """How to authenticate: everything a login needs (secrets already unwrapped)."""

    method: str  # a name of AUTH_METHODS
    mount: str
    token: str = field(default="", repr=False)
    role_id: str = ""
    secret_id: str = field(default="", repr=False)
    role: str = ""
    jwt: str = field(default="", repr=False)
    jwt_path: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    def secrets(self) -> tuple[str, ...]:
        return (self.token, self.secret_id, self.jwt, self.password)


@dataclass(frozen=True)
class AuthMethod:
    name: str
    needs: tuple[str, ...]  # block fields that must be filled; "a|b" for either of two
    login: Login | None  # None: a static token, no login call
    default_jwt_path: str = ""  # where the JWT is read from when the block gives none

    @property
    def default_mount(self) -> str:
        return self.name


AUTH_METHODS: dict[str, AuthMethod] = {
    method.name: method
    for method in (
        AuthMethod("token", ("token",), None),
        AuthMethod(
            "approle",
            ("role_id", "secret_id"),
            lambda auth, spec, jwt: auth.approle.login(
                role_id=spec.role_id, secret_id=spec.secret_id or None, mount_point=spec.mount
            ),
        ),
        AuthMethod(
            "jwt",
            ("role", "jwt|jwt_path"),
            lambda auth, spec, jwt: auth.jwt.jwt_login(role=spec.role, jwt=jwt(), path=spec.mount),
        ),
        AuthMethod(
            "kubernetes",
            ("role",),
            lambda auth, spec, jwt: auth.kubernetes.login(role=spec.role, jwt=jwt(), mount_point=spec.mount),
            default_jwt_path=K8S_TOKEN_PATH,
        ),
        AuthMethod(
            "userpass",
            ("username", "password"),
            lambda auth, spec, jwt: auth.userpass.login(
                username=spec.username, password=spec.password, mount_point=spec.mount
            ),
        ),
    )
}


def missing_fields(method: AuthMethod, filled: Callable[[str], bool]) -> list[str]:
    """The needs of ``method`` that ``filled`` says are empty, as the block names them."""
    return [need.replace("|", " or ") for need in method.needs if not any(filled(f) for f in need.split("|"))]
