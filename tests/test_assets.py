"""The clinical-one:// asset scheme: Airflow applies the provider's normalizer, bad URIs fail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from clinical_rules_provider.assets import (
    attach_publish_extra,
    check_outlets,
    clinical_one_rules_asset,
    create_asset,
    normalize_uri,
    parse_rules_asset_uri,
    rules_asset_uri,
)
from tests.conftest import STUDY

HOST = "tenant.clinicalone.oraclecloud.com"
CANONICAL = f"clinical-one://{HOST}/{STUDY}/test/rules"
HYPHENATED = "36753a48-bba0-48cb-98a5-f3278146118d"


def test_airflow_assets_apply_the_registered_normalizer() -> None:
    from airflow.sdk import Asset

    asset = Asset(uri=f"Clinical-One://Tenant.ClinicalOne.OracleCloud.com/{HYPHENATED}/TEST/rules/")
    assert asset.uri == CANONICAL


def test_the_asset_uris_entry_names_importable_handler_and_factory() -> None:
    try:  # Airflow 3.3+
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # Airflow 3.0-3.2
        from airflow.providers_manager import ProvidersManager as Manager  # type: ignore[assignment]

    manager: Any = Manager()
    assert manager.asset_uri_handlers["clinical-one"] is normalize_uri
    assert manager.asset_factories["clinical-one"] is create_asset


@pytest.mark.parametrize(
    ("uri", "part"),
    [
        (f"clinical-one://{HOST}/not-a-study/test/rules", "study_id"),
        (f"clinical-one://{HOST}/{STUDY}/live/rules", "study_mode"),
        (f"clinical-one://{HOST}/{STUDY}/test/jobs", "path"),
        (f"clinical-one://{HOST}/{STUDY}/rules", "path"),
        (f"clinical-one://{HOST}/{STUDY}/test/rules?x=1", "query"),
        (f"clinical-one:///{STUDY}/test/rules", "host"),
        (f"clinical-one://someone@{HOST}/{STUDY}/test/rules", "host"),
    ],
)
def test_a_malformed_uri_is_refused_naming_the_part(uri: str, part: str) -> None:
    with pytest.raises(ValueError, match=part):
        normalize_uri(urlsplit(uri))


@pytest.mark.parametrize(
    "host",
    [
        f"{HOST}:abc",
        f"{HOST}:",
        f"{HOST}:99999",
        f"{HOST}:65536",
        f"{HOST}:0",
        f"{HOST}:\u00b2",
        f"{HOST}:-1",
        f"{HOST}:80:80",
        "tenant\x00.example.com",
        "tenant\x7f.example.com",
        "tenant\\evil.example.com",
        "tenant%2eexample.com",
        "tenant..example.com",
        ".".join(["a" * 63] * 4),
        "[::1",
        "[not-ipv6]:80",
    ],
    ids=[
        "port abc",
        "empty port",
        "port 99999",
        "port 65536",
        "port 0",
        "superscript digit port",
        "port -1",
        "two ports",
        "NUL",
        "DEL",
        "backslash",
        "percent-escape",
        "empty label",
        "name of 255 characters",
        "open bracket",
        "bad IPv6",
    ],
)
def test_a_host_that_is_no_host_and_port_is_refused_naming_the_host(host: str) -> None:
    with pytest.raises(ValueError, match=r"^host: .* is not a host; expected a host name"):
        rules_asset_uri(host, STUDY, "test")
    with pytest.raises(ValueError, match=r"^host: .* is not a host"):
        rules_asset_uri(f"https://{host}", STUDY, "test")
    uri = f"clinical-one://{host}/{STUDY}/test/rules"
    with pytest.raises(ValueError, match=r"^asset uri( host)?: .* is not a (host|URI)"):
        parse_rules_asset_uri(uri)
    if "[" not in host:  # urlsplit itself refuses a broken IPv6 literal
        with pytest.raises(ValueError, match=r"^asset uri host: .* is not a host; expected a host name"):
            normalize_uri(urlsplit(uri))


def test_a_host_is_canonical_lowercase_with_a_plain_port() -> None:
    assert rules_asset_uri("Tenant.Example.com:0443", STUDY, "test").startswith(
        "clinical-one://tenant.example.com:443/"
    )
    assert rules_asset_uri(f"{HOST}:65535", STUDY, "test").startswith(f"clinical-one://{HOST}:65535/")
    assert rules_asset_uri("http://[0:0::1]:8080", STUDY, "test").startswith("clinical-one://[::1]:8080/")
    assert rules_asset_uri("tënant.example.com", STUDY, "test").startswith(
        "clinical-one://xn--tnant-nsa.example.com/"
    )


def test_helper_factory_and_parser_agree_on_the_canonical_uri() -> None:
    asset = clinical_one_rules_asset(f"https://{HOST.upper()}", HYPHENATED, "Test")
    assert asset.uri == asset.name == CANONICAL
    assert create_asset(host=HOST, study_id=STUDY, study_mode="test", extra={"a": 1}).extra == {"a": 1}
    assert rules_asset_uri("127.0.0.1:8080", STUDY, "design").startswith("clinical-one://127.0.0.1:8080/")
    assert parse_rules_asset_uri(CANONICAL) == (HOST, STUDY, "test")
    assert parse_rules_asset_uri("s3://bucket/key") is None


def test_check_outlets_refuses_an_asset_for_another_study_or_mode() -> None:
    from airflow.sdk import Asset

    check_outlets([Asset(CANONICAL), Asset("s3://bucket/key")], f"https://{HOST}", STUDY, "test")
    with pytest.raises(ValueError, match="outlets"):
        check_outlets([Asset(CANONICAL)], f"https://{HOST}", STUDY, "production")
    with pytest.raises(ValueError, match="outlets"):
        check_outlets([Asset(CANONICAL)], "https://other.example.com", STUDY, "test")


def test_attach_publish_extra_fills_only_clinical_one_outlets() -> None:
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import OutletEventAccessors

    ours, other = Asset(CANONICAL), Asset("s3://bucket/key")
    events: Any = OutletEventAccessors()
    assert attach_publish_extra({"outlet_events": events}, [ours, other], {"rule_ids": ["A"]}) == 1
    assert events[ours].extra == {"rule_ids": ["A"]}
    assert events[other].extra == {}
