"""The forecast against the real ticks with the client's senders (SPEC 9): the
three-week repo's Client sends from one mailbox of 7 emails a day (below the campaign's
email share of 16), so the cap is what holds the emails back; the forecast's messages
per day and channel over the three weeks equal what ``tick`` sent, on SQLite and
PostgreSQL.
(One sender: a lead keeps its sender in tick, the forecast counts the senders' room
together, so with one sender the two are the same by construction.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.test_runs_three_weeks import moment_at, sent_per_day
from tests.forecast.forecast_helpers import (
    apply_and_tick_three_weeks,
    forecast_per_day,
    three_week_repo,
)

CAP = 7


def _one_sender(root: Path) -> None:
    for path in (root / "campaigns").rglob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        for doc in docs:
            if doc and doc["kind"] == "Client":
                doc["spec"]["senders"] = [
                    {"name": "Isla", "email": "isla@mail.acme.test", "dailyLimit": CAP}]
        path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))


@pytest.mark.slow
def test_forecast_equals_the_ticks_under_a_senders_cap(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, run = three_week_repo(db_url, tmp_path, monkeypatch)
    _one_sender(root)
    (change,) = [c for c in run.json("plan", "--now", moment_at(0, 7))["changes"]
                 if c["action"] == "run"]
    forecast = change["forecast"]
    messages = apply_and_tick_three_weeks(run)
    sent = sent_per_day(messages)
    assert max(d.get("email", 0) for d in sent.values()) == CAP  # the cap held them
    # the cap stretches the sequence past the three weeks ticked: those days compared
    end = moment_at(21, 0)[:10]
    assert {d: n for d, n in forecast_per_day(forecast).items() if d < end} == sent
    assert forecast["last_send"][:10] > end
