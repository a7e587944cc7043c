"""Property (hypothesis): random senders, caps, pacing, campaign limits, allocation shares
and narrowing, ticked by the real tick over simulated days on SQLite: no sender over its
cap, hourly limit or gap, no campaign over its daily email share, every lead keeps its
sender (one of its campaign's) for its whole sequence."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.tables import CampaignRun, Enrollment, Message
from tests.runs.runs_helpers import base_resources, lead_row, mkdoc

from .test_tick import setup

MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
STEPS = [{"channel": "email", "delayDays": 0, "template": "intro", "purpose": "intro"},
         {"channel": "email", "delayDays": 1}]
OUTBOX = ProjectConfig.model_validate({})

sender_st = st.fixed_dictionaries({
    "dailyLimit": st.integers(1, 6),
    "minGapSeconds": st.sampled_from([None, 0, 900, 3600]),
    "maxPerHour": st.sampled_from([None, 1, 2, 3]),
})
campaign_st = st.fixed_dictionaries({
    "dailyLimit": st.integers(1, 8),
    "share": st.sampled_from([20, 50, 100]),
    "narrow": st.lists(st.booleans(), min_size=3, max_size=3),
})


def _docs(senders: list[dict[str, Any]], campaigns: list[dict[str, Any]]) -> list[dict]:
    docs = base_resources(sequence=STEPS)
    client = next(d for d in docs if d["kind"] == "Client")
    client["spec"]["senders"] = [
        {"name": f"S{i}", "email": f"s{i}@mail.acme.test",
         **{k: v for k, v in s.items() if v is not None}} for i, s in enumerate(senders)]
    base = next(d for d in docs if d["kind"] == "Campaign")
    docs.remove(base)
    for j, c in enumerate(campaigns):
        spec = dict(base["spec"])
        spec["dailyLimit"] = c["dailyLimit"]
        spec["allocation"] = ({"email": 100} if c["share"] == 100
                              else {"email": c["share"], "sms": 100 - c["share"]})
        spec["segment"] = f"seg{j}"
        narrow = [f"s{i}@mail.acme.test" for i in range(len(senders)) if c["narrow"][i]]
        if narrow:
            spec["senders"] = narrow
        docs.append(mkdoc("Segment", f"seg{j}", {"industries": [f"industry{j}"]}))
        docs.append(mkdoc("Campaign", f"c{j}", spec))
    return docs


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(senders=st.lists(sender_st, min_size=1, max_size=3),
       campaigns=st.lists(campaign_st, min_size=1, max_size=2),
       leads=st.integers(2, 14))
def test_caps_limits_and_kept_senders_hold_over_days(
        senders: list[dict[str, Any]], campaigns: list[dict[str, Any]], leads: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rows = [lead_row(i, company_industry=f"industry{i % len(campaigns)}")
                for i in range(leads)]
        db = setup(tmp, f"sqlite:///{tmp / 'state.db'}", _docs(senders, campaigns), rows)
        for day in range(3):
            for slot in range(6):
                tick(db, now=MONDAY_9 + dt.timedelta(days=day, minutes=90 * slot),
                     config=OUTBOX)
        with db.session() as session:
            msgs = session.execute(
                select(Message.sender, Message.sent_at, Message.enrollment_id,
                       CampaignRun.config)
                .join(CampaignRun, CampaignRun.id == Message.run_id)
                .where(Message.status == "sent").order_by(Message.sent_at, Message.id)).all()
            kept = dict(session.execute(select(Enrollment.id, Enrollment.sender)).all())
        db.dispose()
    assert msgs, "something is always sent: every sender can send at least once a day"
    per_sender_day: Counter[tuple[str, dt.date]] = Counter()
    per_campaign_day: Counter[tuple[str, dt.date]] = Counter()
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for sender, at, enrollment, config in msgs:
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        assert sender is not None and sender == kept[enrollment]  # kept for the sequence
        narrow = config["campaign"]["spec"].get("senders")
        assert narrow is None or sender in narrow
        per_sender_day[(sender, at.date())] += 1
        per_campaign_day[(config["campaign"]["name"], at.date())] += 1
        times[sender].append(at)
    for (sender, _), n in per_sender_day.items():
        assert n <= senders[int(sender[1])]["dailyLimit"]
    for (name, _), n in per_campaign_day.items():
        c = campaigns[int(name[1:])]
        assert n <= max(1, c["dailyLimit"] * c["share"] // 100)
    for sender, stamps in times.items():
        spec = senders[int(sender[1])]
        for a, b in itertools.pairwise(stamps):
            assert (b - a).total_seconds() >= (spec["minGapSeconds"] or 0)
        if spec["maxPerHour"]:
            for t in stamps:
                inside = [u for u in stamps if t <= u < t + dt.timedelta(hours=1)]
                assert len(inside) <= spec["maxPerHour"]
