"""runs/senders.py: choice of a sender, daily caps across campaigns, pacing (SPEC 9)."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given, settings, strategies as st

from campaign_gitops.config.models import Sender
from campaign_gitops.runs.senders import (
    Due,
    SenderBook,
    allowed_senders,
    email_quota,
    plan_sends,
    usage,
)

UTC = dt.UTC
NINE = dt.datetime(2026, 12, 7, 9, tzinfo=UTC)  # a Monday
FIVE_PM = NINE.replace(hour=17)


def sender(email: str, cap: int = 50, **kw: object) -> Sender:
    return Sender.model_validate({"name": email.split("@")[0].title(), "email": email,
                                  "dailyLimit": cap, **kw})


def test_new_leads_go_to_the_sender_with_most_room_and_wait_when_all_are_full() -> None:
    a, b = sender("a@acme.test", 5), sender("b@acme.test", 15)
    book = SenderBook([a, b])
    due = [Due(f"lead-{i}") for i in range(25)]
    planned, waiting = plan_sends(due, [a, b], quota=100, book=book, now=NINE, until=FIVE_PM)
    counts = {e: sum(1 for p in planned if p.sender == e) for e in (a.email, b.email)}
    assert counts == {"a@acme.test": 5, "b@acme.test": 15}
    assert [w.lead for w in waiting] == [f"lead-{i}" for i in range(20, 25)]
    # b had the most room, so it took the first ten before a got its first
    assert {p.sender for p in planned[:10]} == {"b@acme.test"}
    assert usage(book) == [("a@acme.test", "A", 5, 5), ("b@acme.test", "B", 15, 15)]


def test_two_senders_capped_at_5_and_15_leads_split_5_5_then_the_rest_next_day() -> None:
    # The example: two mailboxes of 5 a day each, 15 new leads: 10 go on day
    # one, 5 from each, and the other 5 on the next day (a fresh book per client-day).
    a, b = sender("a@acme.test", 5), sender("b@acme.test", 5)
    day_one, waiting = plan_sends([Due(f"l{i}") for i in range(15)], [a, b], quota=50,
                                  book=SenderBook([a, b]), now=NINE, until=FIVE_PM)
    assert sorted(p.sender for p in day_one) == [a.email] * 5 + [b.email] * 5
    assert len(waiting) == 5
    tomorrow = NINE + dt.timedelta(days=1)
    day_two, left = plan_sends(waiting, [a, b], quota=50, book=SenderBook([a, b]),
                               now=tomorrow, until=tomorrow.replace(hour=17))
    assert len(day_two) == 5 and left == []


def test_a_lead_keeps_its_sender_even_when_another_has_more_room() -> None:
    a, b = sender("a@acme.test", 5), sender("b@acme.test", 15)
    book = SenderBook([a, b], sent_today={"a@acme.test": 4})
    planned, waiting = plan_sends([Due("x", "a@acme.test"), Due("y", "a@acme.test")], [a, b],
                                  quota=10, book=book, now=NINE, until=FIVE_PM)
    assert [(p.lead, p.sender) for p in planned] == [("x", "a@acme.test")]
    assert waiting == [Due("y", "a@acme.test")]


def test_daily_cap_holds_across_campaigns_and_the_campaign_quota_combines() -> None:
    a = sender("a@acme.test", 10)
    book = SenderBook([a])
    first, _ = plan_sends([Due(f"p{i}") for i in range(8)], [a], quota=email_quota(20, 30),
                          book=book, now=NINE, until=FIVE_PM)
    second, waiting = plan_sends([Due(f"q{i}") for i in range(8)], [a], quota=8, book=book,
                                 now=NINE, until=FIVE_PM)
    assert len(first) == 6  # 30 % of 20
    assert len(second) == 4 and len(waiting) == 4  # the mailbox's 10 a day


def test_campaign_narrowing() -> None:
    a, b = sender("a@acme.test"), sender("b@acme.test")
    assert allowed_senders([a, b], ["B@acme.test"]) == [b]
    assert allowed_senders([a, b], None) == [a, b]


def test_min_gap_spreads_the_day() -> None:
    a = sender("a@acme.test", 20, minGapSeconds=1200)
    planned, waiting = plan_sends([Due(f"l{i}") for i in range(30)], [a], quota=30,
                                  book=SenderBook([a]), now=NINE, until=FIVE_PM)
    times = [p.at for p in planned]
    assert times[0] == NINE and times[-1] <= FIVE_PM
    assert all(later - earlier == dt.timedelta(minutes=20)
               for earlier, later in itertools.pairwise(times))
    assert len(planned) == 20 and len(waiting) == 10  # 8 h / 20 min = 24 > cap 20


def test_max_per_hour() -> None:
    a = sender("a@acme.test", 30, maxPerHour=4)
    planned, _ = plan_sends([Due(f"l{i}") for i in range(30)], [a], quota=30,
                            book=SenderBook([a]), now=NINE, until=FIVE_PM)
    times = [p.at for p in planned]
    assert len(times) == 30
    for t in times:
        assert sum(1 for u in times if t <= u < t + dt.timedelta(hours=1)) <= 4
    # only what may leave now when no 'until' is given
    now_only, later = plan_sends([Due(f"m{i}") for i in range(6)], [a], quota=6,
                                 book=SenderBook([a]), now=NINE)
    assert len(now_only) == 4 and len(later) == 2


# ---------------------------------------------------------------- property

senders_st = st.lists(
    st.builds(
        lambda i, cap, hourly, gap: sender(f"s{i}@acme.test", cap, maxPerHour=hourly,
                                           minGapSeconds=gap),
        st.integers(0, 99), st.integers(1, 12), st.none() | st.integers(1, 6),
        st.none() | st.integers(0, 3600)),
    min_size=1, max_size=4, unique_by=lambda s: s.email)


@settings(max_examples=120, deadline=None)
@given(senders=senders_st, data=st.data())
def test_property_caps_limits_and_sticky_senders(senders: list[Sender],
                                                 data: st.DataObject) -> None:
    emails = [s.email for s in senders]
    campaigns = data.draw(st.lists(st.tuples(
        st.integers(1, 30),  # daily limit
        st.integers(1, 100),  # email allocation share
        st.none() | st.lists(st.sampled_from(emails), min_size=1, unique=True),
        st.integers(0, 25),  # new leads a day
        st.integers(1, 4),  # steps
    ), min_size=1, max_size=3))
    days = data.draw(st.integers(1, 6))
    lead_sender: dict[str, str] = {}
    steps_left: dict[str, int] = {}
    for day in range(days):
        start = NINE + dt.timedelta(days=day)
        end = start.replace(hour=17)
        book = SenderBook(senders)
        for c, (limit, share, narrow, new, steps) in enumerate(campaigns):
            allowed = allowed_senders(senders, narrow)
            follow = [Due(lead, lead_sender[lead]) for lead in sorted(steps_left)
                      if lead.startswith(f"c{c}-") and steps_left[lead] > 0]
            fresh = [Due(f"c{c}-d{day}-{i}") for i in range(new)]
            quota = email_quota(limit, share)
            planned, waiting = plan_sends(follow + fresh, allowed, quota, book, start, end)
            assert len(planned) <= quota <= limit
            for p in planned:
                assert lead_sender.setdefault(p.lead, p.sender) == p.sender
                assert p.sender in {s.email for s in allowed} or p.lead in steps_left
                steps_left[p.lead] = steps_left.get(p.lead, steps) - 1
                assert start <= p.at <= end
            if len(planned) < quota and any(w.sender is None for w in waiting):
                # a new lead waits only when no allowed sender could still send today
                assert all((book.next_free(s.email, start) or end + dt.timedelta(1)) > end
                           for s in allowed)
        for s in senders:
            times = sorted(book.recent.get(s.email, []))
            assert len(times) <= s.daily_limit
            if s.max_per_hour:
                for t in times:
                    assert sum(1 for u in times if t <= u < t + dt.timedelta(hours=1)) \
                        <= s.max_per_hour
            if s.min_gap_seconds:
                assert all((b - a).total_seconds() >= s.min_gap_seconds
                           for a, b in itertools.pairwise(times))
