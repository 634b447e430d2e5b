"""httpx auth flows for both services.

Each is a generator-based :class:`httpx.Auth` (the login is one more request of the flow,
sent by the same client). Tokens and sessions are cached per process
(:data:`~clinical_rules_provider._state.TOKENS`, :data:`~clinical_rules_provider._state.SESSIONS`,
bounded), which keeps many triggers in one triggerer from logging in once each. They are
keyed by a keyed hash of everything that authenticates (endpoint, login, password, client
id and secret, scope), so connections never share a token or session, and a wrong secret
never rides on another connection's. Every token and session id is registered with
Airflow's secret masker as soon as it is received.
"""

from __future__ import annotations

import base64
from abc import abstractmethod
from collections.abc import Generator
from typing import Any

import httpx

from clinical_rules_provider._redact import fingerprint
from clinical_rules_provider._show import shown
from clinical_rules_provider._state import SESSIONS, TOKENS, Registry
from clinical_rules_provider.clients.base import decode_json
from clinical_rules_provider.clients.vault import SESSION_ERRORS, auth_request, error_types
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    RenewedCredentialsRejectedError,
    TransientServiceError,
)
from clinical_rules_provider.transport.retry import TRANSIENT_STATUS, retry_after_seconds
from clinical_rules_provider.transport.secrets import has_control_characters, register_secret

# Refresh this long before the token's announced expiry (IAMS tokens live ~10 minutes).
TOKEN_EXPIRY_MARGIN = 60.0
DEFAULT_TOKEN_TTL = 600.0
MAX_TOKEN_TTL = 24 * 3600.0  # an ``expires_in`` beyond a day is not believed


def _token_ttl(expires_in: object) -> float:
    """``expires_in`` in seconds when it is a sane number (digits, or an int); else 10 minutes."""
    if isinstance(expires_in, str) and expires_in.isascii() and expires_in.isdigit() and len(expires_in) < 10:
        expires_in = int(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or not 0 <= expires_in < 1e12:
        return DEFAULT_TOKEN_TTL  # also NaN, infinities and ints too large for a float
    return min(float(expires_in), MAX_TOKEN_TTL)


def _raise_if_transient(response: httpx.Response, what: str) -> None:
    """A 429/5xx from a token or login endpoint is worth a retry, not an authentication failure."""
    if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
        raise TransientServiceError(
            f"{what} answered HTTP {response.status_code}",
            status_code=response.status_code,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )


def _header_safe(secret: object, what: str, status_code: int) -> str:
    """Mask an issued secret at once, and refuse one that cannot go into a header as it is.

    Control characters (CR/LF) would make httpx refuse the header, and the refusal quotes it.
    """
    if isinstance(secret, str):
        register_secret(secret, what)
    if not (isinstance(secret, str) and secret and secret.isascii() and secret.isprintable()):
        raise AuthenticationError(
            f"the service issued a {what} with control or non-ASCII characters (CR, LF, ...); "
            "it cannot be sent as a header",
            status_code=status_code,
        )
    return secret


class BearerTokenAuth(httpx.Auth):
    """A static bearer token from the connection extra."""

    def __init__(self, token: str) -> None:
        register_secret(token, "token")
        if has_control_characters(token):
            raise ValueError("connection extra token: must not contain control characters (CR, LF, ...)")
        self._token = token

    def __repr__(self) -> str:
        return "BearerTokenAuth(<secret>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the token as ``Authorization: Bearer``; a refused static token is the caller's."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


class _RenewingAuth(httpx.Auth):
    """Send the cached secret; when the service refuses it, log in again once, and fail fast
    if the fresh secret is refused too (so a broken login never loops).

    Subclasses say how to log in (:meth:`_login_request`), read the login reply into the
    cache (:meth:`_store`), and what a refusal looks like (:meth:`_rejected`).
    """

    requires_response_body = True
    _scheme = ""  # what precedes the secret in the ``Authorization`` header
    _refusal: str  # the message when a fresh secret is refused
    _static: str | None = None  # a secret from the connection, used until refused
    _key: tuple[str, ...]
    _cache: Registry[tuple[str, ...], str]

    @abstractmethod
    def _login_request(self) -> httpx.Request: ...

    @abstractmethod
    def _store(self, response: httpx.Response) -> str: ...

    def _rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        secret = self._static or self._cache.get(self._key)
        for _ in range(2):
            if secret is None:
                login = self._login_request()
                # A login request carries no timeout of its own: give it the one of the request
                # it authenticates, or a login endpoint that never answers holds the call forever.
                if "timeout" in request.extensions:
                    login.extensions = {**login.extensions, "timeout": request.extensions["timeout"]}
                secret = self._store((yield login))
            request.headers["Authorization"] = self._scheme + secret
            response = yield request
            if not self._rejected(response):
                return
            self._static = None
            self._cache.pop(self._key, secret)
            secret = None
        raise RenewedCredentialsRejectedError(self._refusal, status_code=response.status_code)


class OAuth2Auth(_RenewingAuth):
    """OAuth2 bearer from the Oracle Life Sciences IAMS token URL.

    Client-credentials grant, or password grant when ``username``/``password`` are set.
    The token is cached until shortly before expiry and fetched again once on a 401.
    """

    _scheme = "Bearer "
    _refusal = "the service refused a freshly issued OAuth2 token"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        username: str | None = None,
        password: str | None = None,
        client_auth: str = "basic",
        cache: Registry[tuple[str, ...], str] = TOKENS,
    ) -> None:
        if client_auth not in ("basic", "post"):
            raise ValueError(f"token_auth_method: expected 'basic' or 'post', got {shown(client_auth)}")
        register_secret(client_secret, "client_secret")
        register_secret(password, "password")
        self._token_url = token_url
        self._client_id = client_id
        self._cache = cache
        self._key = (
            fingerprint(
                "oauth2", token_url, client_id, client_secret, scope, username, password, client_auth
            ),
        )
        self._form = {"grant_type": "password" if username else "client_credentials"}
        if scope:
            self._form["scope"] = scope
        if username:
            self._form.update(username=username, password=password or "")
        self._headers = {"Accept": "application/json"}
        if client_auth == "post":
            self._form.update(client_id=client_id, client_secret=client_secret)
        else:
            pair = f"{client_id}:{client_secret}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    def __repr__(self) -> str:
        return f"OAuth2Auth(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def _login_request(self) -> httpx.Request:
        return httpx.Request("POST", self._token_url, data=self._form, headers=self._headers)

    def _store(self, response: httpx.Response) -> str:
        _raise_if_transient(response, "token endpoint")
        body: Any = decode_json(response, "oauth2_token") if response.content else {}
        body = body if isinstance(body, dict) else {}
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            reason = body.get("error_description") or body.get("error")
            raise AuthenticationError(
                f"the token endpoint refused client {self._client_id!r}: "
                f"{str(reason)[:200] if reason else 'no access_token returned'}",
                status_code=response.status_code,
            )
        token = _header_safe(token, "access_token", response.status_code)
        ttl = _token_ttl(body.get("expires_in"))
        self._cache.put(self._key, token, ttl=max(ttl - TOKEN_EXPIRY_MARGIN, ttl / 2))
        return token


class VaultSessionAuth(_RenewingAuth):
    """Vault session: ``POST /api/{v}/auth`` once, send the id as ``Authorization``.

    On ``INVALID_SESSION_ID`` the session is renewed once (when credentials are known)
    and the request repeated.
    """

    SESSION_TTL = 15 * 60.0
    _refusal = "Vault refused a fresh session (INVALID_SESSION_ID)"

    def __init__(
        self,
        base_url: str,
        api_version: str,
        *,
        username: str | None = None,
        password: str | None = None,
        session_id: str | None = None,
        cache: Registry[tuple[str, ...], str] = SESSIONS,
    ) -> None:
        if not session_id and not (username and password):
            raise ValueError("veeva_vault connection: set login and password, or a session_id in the extra")
        register_secret(password, "password")
        register_secret(session_id, "session_id")
        if has_control_characters(session_id):
            raise ValueError("connection extra session_id: must not contain control characters (CR, LF, ...)")
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._can_login = bool(username and password)
        self._login = auth_request(api_version, username or "", password or "")
        self._static = session_id
        self._cache = cache
        self._key = (fingerprint("vault", self._base_url, username, password),)
        # Vault's auth reply names the user (``userId``): kept so the stale canceller can
        # scope to the connection's own jobs without another request.
        self.user_id: str | None = None

    def __repr__(self) -> str:
        return f"VaultSessionAuth(base_url={self._base_url!r}, username={self._username!r})"

    def _login_request(self) -> httpx.Request:
        spec = self._login
        return httpx.Request(spec.method, self._base_url + spec.path, data=spec.data, headers=spec.headers)

    def _store(self, response: httpx.Response) -> str:
        _raise_if_transient(response, "Vault auth")
        body = decode_json(response, "vault_auth")
        session = body.get("sessionId") if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("responseStatus") != "SUCCESS" or not session:
            types = ", ".join(sorted(error_types(body)))[:200] or "no sessionId returned"
            raise AuthenticationError(
                f"Vault refused the login for {self._username!r}: {types}", status_code=response.status_code
            )
        session = _header_safe(session, "session_id", response.status_code)
        user = body.get("userId")
        if isinstance(user, (int, str)) and not isinstance(user, bool) and str(user).strip():
            self.user_id = str(user).strip()
        self._cache.put(self._key, session, ttl=self.SESSION_TTL)
        return session

    def _rejected(self, response: httpx.Response) -> bool:
        """A 401 or ``INVALID_SESSION_ID``, when a login can renew the session (a refused
        static session reaches the caller as it is)."""
        if not self._can_login:
            return False
        if response.status_code == 401:
            return True
        if b"INVALID_SESSION_ID" not in response.content:
            # Most replies: skip decoding here (it runs before the reply frees its slot).
            return False
        try:
            body = decode_json(response, "vault")
        except TransientServiceError:
            return False
        return bool(error_types(body) & SESSION_ERRORS)


__all__ = ["BearerTokenAuth", "OAuth2Auth", "VaultSessionAuth"]
