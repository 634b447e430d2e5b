"""Transport-agnostic request descriptions and the exchange protocol shared by sync and async hooks.

An *exchange* is a generator that yields what it needs sent (a batch of :class:`ApiRequest`,
or a :class:`Delay`) and receives the replies; both transports drive it, so request building,
chunking and parsing exist exactly once. Pagers (:class:`Pager`) always end: :func:`fresh_items`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from clinical_rules_provider.exceptions import (
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, described without a transport; ``path`` is relative to the base URL."""

    endpoint: str
    method: str
    path: str
    params: Mapping[str, str | int] | None = None
    json: Any = None
    data: Mapping[str, str] | None = field(default=None, repr=False)
    headers: Mapping[str, str] | None = None
    # Turns the response into what the exchange receives, as soon as the response arrives.
    parse: Callable[[httpx.Response], Any] | None = field(default=None, compare=False, repr=False)
    # False when sending it twice does something twice (a publish-run PUT starts new jobs each
    # time). Drivers retry such a request only when it provably never reached the service and
    # answer any other failure with an :class:`Ambiguous` reply, for the exchange to reconcile.
    idempotent: bool = True
    # Whether a 500 reply (its decoded body) is data for ``parse`` rather than a fault to retry:
    # for endpoints whose 500 may carry per-item results. The transport knows no reply shapes.
    data_on_500: Callable[[Any], bool] | None = field(default=None, compare=False, repr=False)
    # Hand a failure (after the transport's retries) to the exchange as an :class:`Ambiguous`
    # or :class:`Refused` reply instead of raising it, so it never cancels or hides its siblings'.
    report_errors: bool = False


@dataclass(frozen=True)
class Ambiguous:
    """The reply to a non-idempotent request that failed after it may have reached the service:
    the exchange decides what to do (e.g. read the state it would have changed), not the driver."""

    error: ClinicalRulesError


@dataclass(frozen=True)
class Refused:
    """The reply to a ``report_errors`` request that failed and provably changed nothing (refused,
    throttled past the retries, or never sent; for an idempotent request, any failure)."""

    error: ClinicalRulesError


@dataclass(frozen=True)
class Delay:
    """Ask the driver to wait before the next step (Vault's per-job status-read limit)."""

    seconds: float


Step = list[ApiRequest] | Delay
Exchange = Generator[Step, list[Any] | None, T]


def send_one(request: ApiRequest) -> Generator[Step, list[Any] | None, Any]:
    """Yield a single request and return its reply (``yield from send_one(req)``)."""
    return (yield from send_all([request]))[0]


def send_all(requests: list[ApiRequest]) -> Generator[Step, list[Any] | None, list[Any]]:
    """Yield a batch of independent requests (sent concurrently by the async driver); each reply
    is the request's ``parse(response)``, or the response when it has no parser."""
    responses = yield requests
    if responses is None or len(responses) != len(requests):
        raise RuntimeError("exchange driver answered a batch with the wrong number of responses")
    return responses


class Pager(Protocol[T]):
    """What a hook drives, sync or async: the next request (``None`` when done), and a parser
    of its reply into the page's new items."""

    def next_request(self) -> ApiRequest | None:
        """The next page's request, or ``None`` once the last page has been fed."""

    def feed(self, response: httpx.Response) -> list[T]:
        """Read one page's reply: its items not seen on an earlier page, in reply order."""


# No study has that many rules, no Vault that many unfinished jobs: a broken or hostile service.
MAX_DISTINCT_ITEMS = 250_000


def fresh_items(
    seen: set[K], items: Iterable[T], key: Callable[[T], K], endpoint: str, error: type[ClinicalRulesError]
) -> list[T]:
    """The items whose id is not in ``seen`` (a pager's ids over every page), in page order, each
    once; adds them to ``seen``. A page bringing nothing new ends paging, and more than
    :data:`MAX_DISTINCT_ITEMS` ids is the service's ``error`` (docs/inferences.md, "paging
    termination"), which also bounds the memory ``seen`` takes."""
    new = []
    for item in items:
        ident = key(item)
        if ident not in seen:
            seen.add(ident)
            new.append(item)
    if len(seen) > MAX_DISTINCT_ITEMS:
        raise error(
            f"{endpoint}: the service paged out more than {MAX_DISTINCT_ITEMS} distinct items; stopping "
            "(it looks like it never ends)"
        )
    return new


def paging_done(offset: int, count: int, page_size: int, total: int | None, has_more: bool | None) -> bool:
    """Whether a pager has read everything after a page of ``count`` items ending at ``offset``.

    A given total decides first, then ``hasMore``: a server may cap its pages below the
    requested size, so a short page ends paging only when neither is given.
    """
    if total is not None:
        return offset >= total
    if has_more is not None:
        return not has_more
    return count < page_size


_JSON_KEY = "clinical_rules.json"


# What reading service data of an unexpected shape can raise (pydantic's ValidationError is a
# ValueError; a huge number an OverflowError, ...).
_DATA_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, ArithmeticError, RecursionError)


@contextlib.contextmanager
def reading_reply(endpoint: str) -> Iterator[None]:
    """Turn any error raised while reading service data into :class:`UnexpectedResponseError`
    (a built-in error would mean "bad input before sending" or a bug to this provider's callers)."""
    try:
        yield
    except ClinicalRulesError:
        raise
    except _DATA_ERRORS as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UnexpectedResponseError(
            f"{endpoint}: the reply could not be read ({type(exc).__name__}: {first[:160]})"
        ) from exc


def reply_for(request: ApiRequest, response: httpx.Response) -> Any:
    """What an exchange receives for ``request``: its parsed reply, or the raw response."""
    if request.parse is None:
        return response
    with reading_reply(request.endpoint):
        return request.parse(response)


def decode_json(response: httpx.Response, endpoint: str) -> Any:
    """Return the JSON body (``None`` for an empty or non-JSON error response), memoised on the
    response so the transport's check and the parser decode each body once.

    An unparsable *2xx* body is a transient fault (a truncated answer or a proxy page).
    """
    if _JSON_KEY in response.extensions:
        return response.extensions[_JSON_KEY]
    try:
        data = response.json() if response.content or response.is_success else None
    except RecursionError:
        raise UnexpectedResponseError(
            f"{endpoint}: the reply's JSON is nested too deeply to read "
            f"(HTTP {response.status_code}, {len(response.content)} bytes)",
            status_code=response.status_code,
        ) from None
    except ValueError as exc:
        if response.is_success:
            raise TransientServiceError(
                f"{endpoint}: the service returned a body that is not valid JSON "
                f"(HTTP {response.status_code}, {len(response.content)} bytes)",
                status_code=response.status_code,
            ) from exc
        data = None
    response.extensions[_JSON_KEY] = data
    return data


def after_delay(seconds: float, exchange: Exchange[T]) -> Exchange[T]:
    """Run ``exchange`` after waiting ``seconds`` (nothing is yielded when there is no wait)."""
    if seconds > 0:
        yield Delay(seconds)
    return (yield from exchange)


def parse_model(
    model: type[M],
    data: Any,
    endpoint: str,
    *,
    error: type[ClinicalRulesError] = ClinicalRulesError,
    context: dict[str, Any] | None = None,
) -> M:
    """Validate a response body; a shape the model rejects is a service error, not a ``ValueError``
    (which this provider reserves for input rejected before sending)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise error(f"{endpoint}: unexpected response shape ({problems})") from None
