"""Clinical One authentication: an IAMS/IDCS-like OAuth2 token endpoint and the route guard.

Mirrors what the provider's hook sends (``transport/auth.py``): ``POST /oauth2/v1/token``
(form-encoded, client authenticated by HTTP Basic or by ``client_id``/``client_secret``
form fields, ``client_credentials`` or ``password`` grant), then ``Authorization: Bearer``
on every Clinical One call; or a static bearer; or ``Authorization: Basic`` user:password.
Credentials come from `Settings` (``c1_basic_users``, ``oauth_clients``, ``static_tokens``),
issued tokens from `SimulatorState.issue_token`. No response ever echoes a secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from clinical_rules_provider.testing.state import SimulatorState

__all__ = [
    "AUTH_REQUIRED_BODY",
    "TOKEN_PATH",
    "ClinicalOneAuth",
    "auth_routes",
    "basic_header",
    "coerce_auth_setting",
]

TOKEN_PATH = "/oauth2/v1/token"
AUTH_REQUIRED_BODY: dict[str, Any] = {
    "status": "failed",
    "result": None,
    "errorCode": "AUTH-401",
    "errorMessage": "Authentication required or token expired.",
    "details": None,
}
_FORM = "application/x-www-form-urlencoded"
_GRANTS = ("client_credentials", "password")
# RFC 6749 5.1: token responses (and their errors) must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

Handler = Callable[[Request], Awaitable[Response]]


def basic_header(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic (tests and demos)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _split(header: str) -> tuple[str, str]:
    """``"Scheme credentials"`` -> (lowercase scheme, credentials)."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), rest.strip()


def _decode_basic(credentials: str) -> tuple[str, str] | None:
    try:
        text = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, secret = text.partition(":")
    return (user, secret) if sep else None


def _matches(known: Mapping[str, str], name: str, secret: str) -> bool:
    expected = known.get(name)
    return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())


def coerce_auth_setting(name: str, value: Any) -> Any:
    """Validate an auth setting arriving as JSON (`POST /_sim/settings`); others pass through."""
    if name in ("c1_basic_users", "oauth_clients"):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError(f"{name} must be an object of name -> secret strings")
        return dict(value)
    if name == "static_tokens":
        tokens = [value] if isinstance(value, str) else value
        if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("static_tokens must be a list of non-empty strings")
        return tuple(tokens)
    if name == "token_ttl_seconds":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("token_ttl_seconds must be a number >= 0")
        return float(value)
    if name == "c1_auth_required" and not isinstance(value, bool):
        raise ValueError("c1_auth_required must be true or false")
    return value


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, challenge: bool = False) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.challenge = status, error, description, challenge

    def response(self) -> JSONResponse:
        headers = dict(_NO_STORE)
        if self.challenge:  # RFC 6749 5.2: answer a failed Basic client auth with a challenge
            headers["WWW-Authenticate"] = 'Basic realm="oauth2"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


def _bad_client() -> _OAuthError:
    return _OAuthError(401, "invalid_client", "Client authentication failed.")


class ClinicalOneAuth:
    """The token endpoint and the Clinical One request check, bound to one SimulatorState."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    # ----- resource side ------------------------------------------------------
    def authenticated(self, request: Request) -> bool:
        """Whether ``Authorization`` carries a valid Basic user or a live/static bearer."""
        settings = self.state.settings
        if not settings.c1_auth_required:
            return True
        scheme, credentials = _split(request.headers.get("authorization", ""))
        if scheme == "bearer" and credentials:
            if any(hmac.compare_digest(credentials.encode(), t.encode()) for t in settings.static_tokens):
                return True
            return self.state.token_valid(credentials)
        if scheme == "basic":
            pair = _decode_basic(credentials)
            return pair is not None and _matches(settings.c1_basic_users, *pair)
        return False

    def guard(self, handler: Handler) -> Handler:
        """Wrap a Clinical One endpoint: 401 AUTH-401 before any request validation."""

        async def guarded(request: Request) -> Response:
            if not self.authenticated(request):
                headers = {"WWW-Authenticate": "Bearer"}
                return JSONResponse(AUTH_REQUIRED_BODY, status_code=401, headers=headers)
            return await handler(request)

        guarded.__name__ = getattr(handler, "__name__", "guarded")
        guarded.__doc__ = handler.__doc__
        return guarded

    # ----- token endpoint -----------------------------------------------------
    def _client(self, request: Request, form: Mapping[str, str]) -> None:
        """Authenticate the client by Basic header or form fields (not both)."""
        scheme, credentials = _split(request.headers.get("authorization", ""))
        if scheme == "basic":
            if "client_secret" in form:
                message = "Use exactly one client authentication method."
                raise _OAuthError(400, "invalid_request", message)
            pair = _decode_basic(credentials)
            if pair is None or not _matches(self.state.settings.oauth_clients, *pair):
                raise _OAuthError(401, "invalid_client", "Client authentication failed.", True)
            return
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not _matches(self.state.settings.oauth_clients, client_id, secret):
            raise _bad_client()

    def _grant(self, form: Mapping[str, str]) -> None:
        grant = form.get("grant_type", "")
        if not grant:
            raise _OAuthError(400, "invalid_request", "Missing required parameter grant_type.")
        if grant not in _GRANTS:
            message = f"Grant type '{grant[:40]}' is not supported; use {' or '.join(_GRANTS)}."
            raise _OAuthError(400, "unsupported_grant_type", message)
        if grant == "password":
            username, password = form.get("username", ""), form.get("password", "")
            if not username or not password:
                message = "The password grant requires username and password."
                raise _OAuthError(400, "invalid_request", message)
            if not _matches(self.state.settings.c1_basic_users, username, password):
                raise _OAuthError(400, "invalid_grant", "The user name or password is incorrect.")

    async def token(self, request: Request) -> Response:
        """POST /oauth2/v1/token: 200 with a bearer token, or an RFC 6749 error object."""
        try:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != _FORM:
                raise _OAuthError(400, "invalid_request", f"Content-Type must be {_FORM}.")
            raw = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
            form = {key: values[0] for key, values in raw.items()}
            self._client(request, form)
            self._grant(form)
        except _OAuthError as failure:
            return failure.response()
        ttl = self.state.settings.token_ttl_seconds
        body = {
            "access_token": self.state.issue_token(),
            "token_type": "Bearer",
            "expires_in": int(ttl),  # whole seconds, never more than the real lifetime
        }
        return JSONResponse(body, headers=_NO_STORE)


def auth_routes(state: SimulatorState) -> list[Route]:
    """The OAuth2 token endpoint (served on the same host as the services)."""
    return [Route(TOKEN_PATH, ClinicalOneAuth(state).token, methods=["POST"])]
