"""httpx auth flows for both services.

Each is a generator-based :class:`httpx.Auth`, so one implementation serves the sync
and the async client. Tokens and sessions are cached per process, which keeps many
triggers in one triggerer from logging in once each. The caches are keyed by a keyed
hash of everything that authenticates (endpoint, login, password, client id and secret,
scope), so connections never share a token or session, and a wrong secret never rides
on another connection's; they hold at most :data:`MAX_CACHED` entries. Every token and
session id is registered with Airflow's secret masker as soon as it is received.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx

from clinical_rules_provider._redact import fingerprint
from clinical_rules_provider.clients.base import decode_json
from clinical_rules_provider.clients.vault import SESSION_ERRORS, auth_request, error_types
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    RenewedCredentialsRejectedError,
    TransientServiceError,
)
from clinical_rules_provider.hooks._retry import TRANSIENT_STATUS, retry_after_seconds
from clinical_rules_provider.hooks._secrets import has_control_characters, register_secret

# Refresh this long before the token's announced expiry (IAMS tokens live ~10 minutes).
TOKEN_EXPIRY_MARGIN = 60.0
# Tokens or sessions kept per process (expired ones go first, then the least recently stored).
MAX_CACHED = 1024
DEFAULT_TOKEN_TTL = 600.0
MAX_TOKEN_TTL = 24 * 3600.0  # an ``expires_in`` beyond a day is not believed


def _usable_secret(value: object) -> TypeGuard[str]:
    """A token or session id that can go into an ``Authorization`` header as it is.

    Control characters (CR/LF) would make httpx refuse the header, and the refusal quotes it.
    """
    return isinstance(value, str) and bool(value) and value.isascii() and value.isprintable()


def _token_ttl(expires_in: object) -> float:
    """``expires_in`` in seconds when it is a sane number (digits, or an int); else 10 minutes."""
    if isinstance(expires_in, bool):
        return DEFAULT_TOKEN_TTL
    if isinstance(expires_in, str) and expires_in.isascii() and expires_in.isdigit() and len(expires_in) < 10:
        seconds = float(expires_in)
    elif isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
        seconds = float(expires_in) if abs(expires_in) < 1e12 else math.inf
    else:
        return DEFAULT_TOKEN_TTL
    if not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_TOKEN_TTL
    return min(seconds, MAX_TOKEN_TTL)


def _with_timeout(auth_request: httpx.Request, request: httpx.Request) -> httpx.Request:
    """Give a token/login request the timeout of the request it authenticates.

    Requests an auth flow builds carry no timeout of their own, so without this a token
    endpoint that never answers would hold the call forever.
    """
    timeout = request.extensions.get("timeout")
    if timeout is not None:
        auth_request.extensions = {**auth_request.extensions, "timeout": timeout}
    return auth_request


@dataclass
class _Cached:
    value: str
    expires_at: float

    def __repr__(self) -> str:
        return "_Cached(<secret>)"


class _SecretCache:
    """A tiny thread-safe, bounded process-wide cache for tokens and session ids."""

    def __init__(self, limit: int = MAX_CACHED) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, ...], _Cached] = OrderedDict()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item.expires_at <= time.monotonic():
                return None
            return item.value

    def put(self, key: tuple[str, ...], value: str, ttl: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._items[key] = _Cached(value, now + ttl)
            self._items.move_to_end(key)
            if len(self._items) > self._limit:
                for stale in [k for k, item in self._items.items() if item.expires_at <= now]:
                    del self._items[stale]
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def drop(self, key: tuple[str, ...], value: str | None = None) -> None:
        """Forget ``key`` (only if it still holds ``value``, so a fresh token is not dropped)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None and (value is None or item.value == value):
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


TOKEN_CACHE = _SecretCache()
SESSION_CACHE = _SecretCache()


def _raise_if_transient(response: httpx.Response, what: str) -> None:
    """A 429/5xx from a token or login endpoint is worth a retry, not an authentication failure."""
    if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
        raise TransientServiceError(
            f"{what} answered HTTP {response.status_code}",
            status_code=response.status_code,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )


def _header_safe(secret: object, what: str, status_code: int) -> str:
    """Mask an issued secret at once, and refuse one that cannot go into a header as it is."""
    if isinstance(secret, str):
        register_secret(secret, what)
    if not _usable_secret(secret):
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
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


class OAuth2Auth(httpx.Auth):
    """OAuth2 bearer from the Oracle Life Sciences IAMS token URL.

    Client-credentials grant, or password grant when ``username``/``password`` are set.
    The token is cached until shortly before expiry and fetched again once on a 401.
    """

    requires_response_body = True

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
        cache: _SecretCache = TOKEN_CACHE,
    ) -> None:
        if client_auth not in ("basic", "post"):
            raise ValueError(f"token_auth_method: expected 'basic' or 'post', got {client_auth!r}")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._username = username
        self._password = password
        self._client_auth = client_auth
        self._cache = cache
        register_secret(client_secret, "client_secret")
        register_secret(password, "password")
        self._key = (
            fingerprint(
                "oauth2", token_url, client_id, client_secret, scope, username, password, client_auth
            ),
        )

    def __repr__(self) -> str:
        return f"OAuth2Auth(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "password" if self._username else "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        if self._username:
            form["username"] = self._username
            form["password"] = self._password or ""
        headers = {"Accept": "application/json"}
        if self._client_auth == "post":
            form.update(client_id=self._client_id, client_secret=self._client_secret)
        else:
            pair = f"{self._client_id}:{self._client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return httpx.Request("POST", self._token_url, data=form, headers=headers)

    def _store(self, response: httpx.Response) -> str:
        _raise_if_transient(response, "token endpoint")
        body: Any = decode_json(response, "oauth2_token") if response.content else {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            reason = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise AuthenticationError(
                f"the token endpoint refused client {self._client_id!r}: "
                f"{str(reason)[:200] if reason else 'no access_token returned'}",
                status_code=response.status_code,
            )
        token = _header_safe(token, "access_token", response.status_code)
        ttl = _token_ttl(body.get("expires_in"))
        self._cache.put(self._key, token, max(ttl - TOKEN_EXPIRY_MARGIN, ttl / 2))
        return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cache.get(self._key)
        if token is None:
            token = self._store((yield _with_timeout(self._token_request(), request)))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._cache.drop(self._key, token)
            token = self._store((yield _with_timeout(self._token_request(), request)))
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code == 401:
                self._cache.drop(self._key, token)
                raise RenewedCredentialsRejectedError(
                    "the service refused a freshly issued OAuth2 token", status_code=401
                )


class VaultSessionAuth(httpx.Auth):
    """Vault session: ``POST /api/{v}/auth`` once, send the id as ``Authorization``.

    On ``INVALID_SESSION_ID`` the session is renewed once (when credentials are known)
    and the request repeated.
    """

    requires_response_body = True
    SESSION_TTL = 15 * 60.0

    def __init__(
        self,
        base_url: str,
        api_version: str,
        *,
        username: str | None = None,
        password: str | None = None,
        session_id: str | None = None,
        cache: _SecretCache = SESSION_CACHE,
    ) -> None:
        if not session_id and not (username and password):
            raise ValueError("veeva_vault connection: set login and password, or a session_id in the extra")
        self._base_url = base_url.rstrip("/")
        self._api_version = api_version
        self._username = username
        self._password = password
        self._static_session = session_id
        self._cache = cache
        register_secret(password, "password")
        register_secret(session_id, "session_id")
        if has_control_characters(session_id):
            raise ValueError("connection extra session_id: must not contain control characters (CR, LF, ...)")
        self._key = (fingerprint("vault", self._base_url, username, password),)
        self.logins = 0
        # Vault's auth reply names the user (``userId``): kept so the stale canceller can
        # scope to the connection's own jobs without another request.
        self.user_id: str | None = None

    def __repr__(self) -> str:
        return f"VaultSessionAuth(base_url={self._base_url!r}, username={self._username!r})"

    def _login_request(self) -> httpx.Request:
        spec = auth_request(self._api_version, self._username or "", self._password or "")
        return httpx.Request(
            spec.method,
            self._base_url + spec.path,
            data=dict(spec.data or {}),
            headers=dict(spec.headers or {}),
        )

    def _store(self, response: httpx.Response) -> str:
        self.logins += 1
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
        self._cache.put(self._key, session, self.SESSION_TTL)
        return session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        session = self._static_session or self._cache.get(self._key)
        if session is None:
            session = self._store((yield _with_timeout(self._login_request(), request)))
        request.headers["Authorization"] = session
        response = yield request
        if not (self._username and self._password) or not _session_rejected(response):
            return
        self._static_session = None
        self._cache.drop(self._key, session)
        session = self._store((yield _with_timeout(self._login_request(), request)))
        request.headers["Authorization"] = session
        response = yield request
        if _session_rejected(response):
            self._cache.drop(self._key, session)
            raise RenewedCredentialsRejectedError(
                "Vault refused a fresh session (INVALID_SESSION_ID)", status_code=response.status_code
            )


def _session_rejected(response: httpx.Response) -> bool:
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
