"""Clock skew seen from the service's HTTP ``Date`` header: measured, warned about, never acted on."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import formatdate

import httpx
import pytest
import respx

from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.testing import LiveSimulator
from clinical_rules_provider.transport.clock_skew import ClockSkewMeter, SkewReading, read_skew, skew_warning
from tests.conftest import RULE_A, RULE_B, STUDY, ConnFactory
from tests.operators.conftest import C1_LOGIN, C1_PASSWORD

HISTORY = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
OK = {"status": "SUCCESS", "ruleHistory": []}
NOON = "Sun, 06 Dec 2026 12:00:00 GMT"
NOON_EPOCH = 1796558400.0  # 2026-12-06T12:00:00Z


def service_date(offset: float) -> str:
    """An HTTP date ``offset`` seconds from this machine's clock."""
    return formatdate(time.time() + offset, usegmt=True)


def reply(date: str | None, **headers: str) -> httpx.Response:
    if date is not None:
        headers["Date"] = date
    return httpx.Response(200, json=OK, headers=headers)


def read(response: httpx.Response, received: float, elapsed: float) -> SkewReading | None:
    response.elapsed = timedelta(seconds=elapsed)
    return read_skew(response, received)


# --- one reading ---------------------------------------------------------------------------


def test_a_reading_is_the_interval_the_stamp_allows() -> None:
    # Sent at 12:00:00.3, received at 12:00:00.5 (worker clock); Date says 12:00:00 (whole
    # seconds), so the skew lies in (0 - 0.5, 1 - 0.3] = (-0.5, 0.7].
    reading = read(reply(NOON), received=NOON_EPOCH + 0.5, elapsed=0.2)
    assert reading is not None
    assert reading.seconds == pytest.approx(0.1)
    assert reading.uncertainty == pytest.approx(0.6)
    assert reading.least == 0.0


def test_a_service_five_minutes_ahead_reads_as_plus_300_seconds() -> None:
    reading = read(reply(NOON), received=NOON_EPOCH - 300, elapsed=0.1)
    assert reading is not None
    assert reading.seconds == pytest.approx(300.55, abs=0.01)
    assert reading.least == pytest.approx(300.0, abs=0.01)


@pytest.mark.parametrize("date", [None, "", "yesterday", "Sun, 32 Dec 2026 12:00:00 GMT", "12:00"])
def test_a_missing_or_garbage_date_header_gives_no_reading(date: str | None) -> None:
    assert read(reply(date), received=NOON_EPOCH, elapsed=0.1) is None


def test_a_cached_reply_gives_no_reading() -> None:
    # A cache's Date is when the cache got the reply, not the service's clock now.
    assert read(reply(NOON, Age="120"), received=NOON_EPOCH + 200, elapsed=0.1) is None


def test_a_date_without_zone_is_read_as_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # not UTC: a naive date read as local time is off by 9 h
    time.tzset()
    try:
        reading = read(reply("Sun, 06 Dec 2026 12:00:00 -0000"), received=NOON_EPOCH + 0.5, elapsed=0.2)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert reading is not None and reading.seconds == pytest.approx(0.1)


def test_the_meter_keeps_the_tightest_reading() -> None:
    meter = ClockSkewMeter()
    fast, slow = reply(service_date(300)), reply(service_date(300))
    fast.elapsed, slow.elapsed = timedelta(seconds=0.05), timedelta(seconds=20)
    meter.observe(fast)
    meter.observe(slow)
    assert meter.readings == 2
    assert meter.best is not None and meter.best.uncertainty < 1


@pytest.mark.parametrize(
    ("seconds", "uncertainty", "warns"),
    [(300.0, 0.5, True), (-300.0, 0.5, True), (5.4, 0.5, False), (6.0, 0.5, True), (30.0, 26.0, False)],
)
def test_a_warning_needs_the_whole_interval_past_the_threshold(
    seconds: float, uncertainty: float, warns: bool
) -> None:
    warning = skew_warning(SkewReading(seconds, uncertainty), 5.0, "older_than")
    assert (warning is not None) == warns
    if warning:
        assert "older_than" in warning
        assert ("ahead of" in warning) == (seconds > 0)


# --- the hook ------------------------------------------------------------------------------


@respx.mock
def test_the_hook_measures_a_service_five_minutes_ahead_and_warns(c1_conn: str) -> None:
    respx.get(HISTORY).mock(return_value=reply(service_date(300)))
    hook = ClinicalOneHook(c1_conn)
    assert hook.clock_skew is None and hook.check_clock_skew("older_than") is None  # nothing read yet
    hook.get_rerun_history(STUDY, "test", RULE_A)
    assert hook.clock_skew == pytest.approx(300, abs=1.5)
    warning = hook.check_clock_skew("older_than")
    assert warning is not None
    assert "ahead of this worker's" in warning and "older_than" in warning and "clock_skew_warning" in warning


@respx.mock
async def test_the_async_path_measures_a_service_five_minutes_behind(c1_conn: str) -> None:
    respx.get(HISTORY).mock(return_value=reply(service_date(-300)))
    hook = ClinicalOneHook(c1_conn)
    await hook.aget_rerun_history(STUDY, "test", RULE_A)
    assert hook.clock_skew == pytest.approx(-300, abs=1.5)
    assert "behind this worker's" in (hook.check_clock_skew("started_after") or "")
    await hook.aclose()


@respx.mock
def test_an_in_range_date_header_does_not_warn(c1_conn: str) -> None:
    respx.get(HISTORY).mock(return_value=reply(service_date(0)))
    hook = ClinicalOneHook(c1_conn)
    hook.get_rerun_history(STUDY, "test", RULE_A)
    assert hook.clock_skew is not None and abs(hook.clock_skew) < 1.5
    assert hook.check_clock_skew("older_than") is None


@respx.mock
@pytest.mark.parametrize("date", [None, "not a date"])
def test_a_missing_or_garbage_date_header_is_ignored_by_the_hook(c1_conn: str, date: str | None) -> None:
    respx.get(HISTORY).mock(return_value=reply(date))
    hook = ClinicalOneHook(c1_conn)
    hook.get_rerun_history(STUDY, "test", RULE_A)
    assert hook.clock_skew is None and hook.clock_skew_reading is None
    assert hook.check_clock_skew("older_than") is None


@respx.mock
def test_the_threshold_is_the_connection_extra_clock_skew_warning(make_conn: ConnFactory) -> None:
    conn = make_conn("c1_skew", "clinical_one", "c1.test", extra={"token": "t", "clock_skew_warning": 600})
    respx.get(HISTORY).mock(return_value=reply(service_date(300)))
    hook = ClinicalOneHook(conn)
    hook.get_rerun_history(STUDY, "test", RULE_A)
    assert hook.clock_skew == pytest.approx(300, abs=1.5)
    assert hook.check_clock_skew("older_than") is None


@pytest.mark.parametrize("value", [-1, "soon", float("nan")])
def test_a_bad_clock_skew_warning_is_a_value_error_naming_it(make_conn: ConnFactory, value: object) -> None:
    conn = make_conn(
        "c1_bad_skew", "clinical_one", "c1.test", extra={"token": "t", "clock_skew_warning": value}
    )
    with pytest.raises(ValueError, match="clock_skew_warning"):
        _ = ClinicalOneHook(conn).config


def test_the_simulator_on_this_machines_clock_shows_no_skew(
    simulator: LiveSimulator, make_conn: ConnFactory
) -> None:
    conn = make_conn("sim_skew", "clinical_one", simulator.url, login=C1_LOGIN, password=C1_PASSWORD)
    with ClinicalOneHook(conn) as hook:
        hook.get_rerun_history(STUDY, "test", RULE_B)
        assert hook.clock_skew is not None and abs(hook.clock_skew) < 1.5  # uvicorn's Date header
        assert hook.check_clock_skew("older_than") is None
