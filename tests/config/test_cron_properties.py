"""Property tests of cron fire times (config/cron.py) in zones with DST changes: every
fire is after the instant asked about, is its own latest fire, nothing fires between
an instant and its next fire, and a fire lands on the cron's wall-clock minute unless
a spring-forward change skipped that minute (then at the change, within the hour)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from campaign_gitops.config.cron import next_fire, prev_fire

ZONES = ["Australia/Sydney", "America/New_York", "Europe/London", "America/Chicago",
         "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
UTC = dt.UTC

crons = st.builds(
    lambda minute, hour, dow: f"{minute} {hour} * * {dow}",
    st.sampled_from([0, 15, 30, 59]),
    st.sampled_from(["*", "0", "1", "2", "3", "9", "23", "*/6"]),
    st.sampled_from(["*", "1", "0", "1-5", "6,7"]),
)


def _changes() -> list[dt.datetime]:
    """Every UTC-offset change of 2026 in ZONES (found hour by hour)."""
    out = []
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for name in ZONES:
        zone = ZoneInfo(name)
        hours = [start + dt.timedelta(hours=h) for h in range(366 * 24)]
        out += [b for a, b in itertools.pairwise(hours)
                if a.astimezone(zone).utcoffset() != b.astimezone(zone).utcoffset()]
    return out


CHANGES = _changes()
# instants anywhere in 2026, and (most of them) within a day of a DST change
instants = st.one_of(
    st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 1),
                 timezones=st.just(UTC)),
    st.builds(lambda change, seconds: change + dt.timedelta(seconds=seconds),
              st.sampled_from(CHANGES), st.integers(-26 * 3600, 26 * 3600)),
    st.builds(lambda change, seconds: change + dt.timedelta(seconds=seconds),
              st.sampled_from(CHANGES), st.integers(-2 * 3600, 2 * 3600)),
)


def test_the_zones_have_dst_changes_to_test() -> None:
    assert len(CHANGES) >= 10


def _at(moment: dt.datetime | None) -> dt.datetime:
    """The instant, in UTC. Aware datetimes of one zone compare and add as wall clocks
    in Python (02:00 BST minus a second is 01:59:59, a time the spring-forward gap
    skips), so every comparison and every step here is in UTC."""
    assert moment is not None
    return moment.astimezone(UTC)


@settings(max_examples=400, deadline=None)
@given(cron=crons, zone=st.sampled_from(ZONES), after=instants)
def test_next_and_previous_fires_agree(cron: str, zone: str, after: dt.datetime) -> None:
    fire = _at(next_fire(cron, zone, after))
    assert fire > after
    assert _at(prev_fire(cron, zone, fire)) == fire  # a fire is its own latest fire
    before = _at(prev_fire(cron, zone, after))
    assert before <= after
    # nothing fires in between: the next fire after the latest one is the one found
    assert _at(next_fire(cron, zone, before)) == fire
    assert _at(next_fire(cron, zone, fire - dt.timedelta(seconds=1))) == fire


@settings(max_examples=400, deadline=None)
@given(cron=crons, zone=st.sampled_from(ZONES), after=instants)
def test_a_fire_is_on_the_crons_minute_or_at_a_spring_forward_change(
        cron: str, zone: str, after: dt.datetime) -> None:
    fire = _at(next_fire(cron, zone, after))
    local = fire.astimezone(ZoneInfo(zone))
    if local.minute == int(cron.split()[0]):
        return
    # skipped by a spring-forward change: the fire is at the change itself
    just_before = (fire - dt.timedelta(seconds=1)).astimezone(ZoneInfo(zone))
    assert just_before.utcoffset() != local.utcoffset(), (cron, zone, fire)
