"""The ``clinical-one://<host>/<study_id>/<study_mode>/rules`` asset scheme: the rules of one
study in one mode on one tenant. Airflow calls :func:`normalize_uri` (``asset-uris`` in the provider info) for every such URI,
so any spelling of a study's URI is one asset: host lowercased, study id uppercase compact,
mode lowercase, validated as the hooks validate them. Imported while DAG files are parsed:
it loads only the id and enum helpers, and Airflow's ``Asset`` when an asset is built.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import SplitResult, urlsplit

from clinical_rules_provider._show import shown
from clinical_rules_provider.models.enums import StudyMode, parse_choice
from clinical_rules_provider.models.ids import compact_id

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "clinical-one"
URI_FORM = "clinical-one://<host>/<study_id>/<study_mode>/rules"


class RulesAssetKey(NamedTuple):
    """The parts of a canonical ``clinical-one://`` URI."""

    host: str
    study_id: str
    study_mode: str


# One DNS label (letters, digits, hyphens inside, underscores for internal names) and a port.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
_HOST_FORM = "a host name or IP address, optionally with :port (1-65535)"


def _canonical_host(host: str, field: str) -> str:
    """``host[:port]`` lowercased, the port without leading zeros, a non-ASCII name in its IDNA
    (``xn--``) form; user info, a path, whitespace, control characters, backslashes,
    percent-escapes and a bad or repeated port (``:80:80``) are refused."""
    text = host.strip() if isinstance(host, str) else ""
    if "://" in text:  # a base URL (the connection's host field) is accepted too
        try:
            text = urlsplit(text).netloc
        except ValueError:  # urlsplit's own refusal ("Invalid IPv6 URL") names no field
            text = ""
    canonical = _host_and_port(text.lower())
    if canonical is None:
        raise ValueError(
            f"{field}: {shown(host)} is not a host; expected {_HOST_FORM}, "
            f"without user info or path, as in {URI_FORM}"
        )
    return canonical


def _host_and_port(text: str) -> str | None:
    """``text`` as a canonical ``host[:port]``, or ``None`` when it is not one."""
    if text.startswith("["):  # an IPv6 literal: [addr] or [addr]:port
        address, bracket, rest = text[1:].partition("]")
        try:
            name = f"[{ipaddress.IPv6Address(address).compressed}]" if bracket else None
        except ValueError:
            return None
        port = rest[1:] if rest.startswith(":") else None if not rest else ""
    else:
        name, colon, port_text = text.partition(":")
        port = port_text if colon else None
        name = _host_name(name)
    if name is None or (port is not None and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535)):
        return None
    return name if port is None else f"{name}:{int(port)}"


def _host_name(name: str) -> str | None:
    """A DNS name (IDNA-encoded when not ASCII) or an IPv4 address, else ``None``."""
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split(".")) else None


def normalize_uri(parts: SplitResult) -> SplitResult:
    """Validate and canonicalise a ``clinical-one://`` URI (Airflow's ``asset-uris`` handler):
    a misspelt asset fails the DAG file's import instead of announcing events nobody hears."""
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"asset uri: scheme must be {SCHEME!r}, got {shown(parts.scheme)}")
    if parts.query or parts.fragment:
        raise ValueError(f"asset uri: no query or fragment allowed; expected {URI_FORM}")
    host = _canonical_host(parts.netloc, "asset uri host")
    segments = parts.path.strip("/").split("/")
    if len(segments) != 3 or segments[2].lower() != "rules":
        raise ValueError(f"asset uri: path {shown(parts.path)} does not match {URI_FORM}")
    study = compact_id(segments[0], "asset uri study_id")
    mode = parse_choice(segments[1], StudyMode, "asset uri study_mode").value
    return SplitResult(SCHEME, host, f"/{study}/{mode}/rules", "", "")


def rules_asset_uri(host: str, study_id: str, study_mode: str) -> str:
    """The canonical URI of a study's rules (host may be a bare host or the connection's base URL)."""
    canonical = _canonical_host(host, "host")
    return normalize_uri(SplitResult(SCHEME, canonical, f"/{study_id}/{study_mode}/rules", "", "")).geturl()


def parse_rules_asset_uri(uri: str) -> RulesAssetKey | None:
    """The host, study and mode of a ``clinical-one://`` URI, or ``None`` for other schemes."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise ValueError(f"asset uri: {shown(uri)} is not a URI; expected {URI_FORM}") from None
    if parts.scheme.lower() != SCHEME:
        return None
    canonical = normalize_uri(parts)
    study, mode, _ = canonical.path.strip("/").split("/")
    return RulesAssetKey(canonical.netloc, study, mode)


def create_asset(*, host: str, study_id: str, study_mode: str, extra: dict[str, Any] | None = None) -> Asset:
    """Airflow's ``asset-uris`` factory: the :class:`~airflow.sdk.Asset` of a study's rules."""
    return clinical_one_rules_asset(host, study_id, study_mode, extra=extra or {})


def clinical_one_rules_asset(
    host: str, study_id: str, study_mode: str, *, name: str | None = None, **kwargs: Any
) -> Asset:
    """The asset a :class:`ClinicalOneUpdatePublishRunOperator` announces for ``study_id``/``study_mode``.

    Put it in the operator's ``outlets`` and in the consumers' ``schedule``; ``kwargs``
    (``watchers``, ``group``, ``extra``) go to ``Asset``.

    :param host: tenant host or base URL of the ``clinical_one`` connection.
    :param study_id: study id, either UUID form.
    :param study_mode: ``design``, ``test``, ``training``, ``production`` or ``active``.
    :param name: asset name (default: the canonical URI).
    """
    from airflow.sdk import Asset

    uri = rules_asset_uri(host, study_id, study_mode)
    return Asset(uri=uri, name=name or uri, **kwargs)


def _ours(outlets: Iterable[Any]) -> list[tuple[Any, RulesAssetKey]]:
    return [
        (outlet, key)
        for outlet in outlets or ()
        if (key := parse_rules_asset_uri(getattr(outlet, "uri", "") or "")) is not None
    ]


def check_outlets(outlets: Iterable[Any], host: str, study_id: str, study_mode: str) -> None:
    """Refuse (before any request) a ``clinical-one://`` outlet naming another host, study or
    mode: its event would start DAGs that wait for a different study."""
    uri = rules_asset_uri(host, study_id, study_mode)
    expected = parse_rules_asset_uri(uri)
    for outlet, key in _ours(outlets):
        if key != expected:
            raise ValueError(
                f"outlets: {shown(outlet.uri)} does not name the rules this task publishes; expected {uri}"
            )


def attach_publish_extra(context: Mapping[str, Any], outlets: Iterable[Any], extra: dict[str, Any]) -> int:
    """Put ``extra`` on the asset event of each ``clinical-one://`` outlet; how many got it."""
    ours = _ours(outlets)
    events = context.get("outlet_events")
    if not ours or events is None:
        return 0
    for outlet, _ in ours:
        events[outlet].extra.update(extra)
    return len(ours)


__all__ = [
    "SCHEME",
    "RulesAssetKey",
    "attach_publish_extra",
    "check_outlets",
    "clinical_one_rules_asset",
    "create_asset",
    "normalize_uri",
    "parse_rules_asset_uri",
    "rules_asset_uri",
]
