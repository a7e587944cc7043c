"""Freeze windows: cron + duration + timezone, like Argo CD's sync windows."""

from __future__ import annotations

import datetime as dt

import pytest

from campaign_gitops.config.project import FreezeWindow, ProjectConfig, is_frozen, parse_duration

WEEKEND = FreezeWindow(name="weekend", cron="0 22 * * 5", duration="2d10h",
                       timezone="Australia/Sydney")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(("now", "frozen"), [
    ("2026-11-20T10:59:59+00:00", False),  # Friday 21:59:59 in Sydney (UTC+11)
    ("2026-11-20T11:00:00+00:00", True),   # Friday 22:00 in Sydney: the window opens
    ("2026-11-22T20:59:59+00:00", True),   # Monday 07:59:59 in Sydney
    ("2026-11-22T21:00:00+00:00", False),  # Monday 08:00: closed again
])
def test_weekend_freeze_in_the_windows_timezone(now: str, frozen: bool) -> None:
    config = ProjectConfig(freeze_windows=[WEEKEND])
    assert (is_frozen(config, at(now)) == WEEKEND) is frozen


def test_no_windows_never_frozen() -> None:
    assert is_frozen(ProjectConfig(), at("2026-11-20T11:00:00+00:00")) is None


def test_second_window_found() -> None:
    daily = FreezeWindow(name="nightly", cron="0 2 * * *", duration="30m")
    config = ProjectConfig(freeze_windows=[WEEKEND, daily])
    assert is_frozen(config, at("2026-11-18T02:29:00+00:00")) == daily
    assert is_frozen(config, at("2026-11-18T02:30:00+00:00")) is None


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("2h", 7200), ("1d", 86400),
                                               ("1h30m", 5400), ("90s", 90)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "1h-30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_a_window_that_never_opens_is_refused() -> None:
    # 30 February: cron.py's cron_problem says "never fires" (a window like it used to
    # load and then fail in plan and tick, where the latest opening was looked up).
    with pytest.raises(ValueError, match="'0 0 30 2 \\*': never fires"):
        FreezeWindow(cron="0 0 30 2 *", duration="1h")


def test_a_window_opening_in_a_skipped_hour_opens_at_the_change() -> None:
    # Sydney, 2026-10-04: 02:00 jumps to 03:00; a 02:30 window opens at 03:00 (cron.py).
    window = FreezeWindow(cron="30 2 * * *", duration="1h", timezone="Australia/Sydney")
    config = ProjectConfig(freeze_windows=[window])
    assert is_frozen(config, at("2026-10-04T03:30:00+11:00")) == window
    assert is_frozen(config, at("2026-10-04T04:00:00+11:00")) is None
