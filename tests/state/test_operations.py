"""state/operations.py: ``client set`` and ``halt``/``resume`` as the CLI calls them, at the
``now`` the caller gives, each change in the apply log."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_gitops.config.project import ClientDefaults
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state import kv, tables as t
from campaign_gitops.state.db import open_database
from campaign_gitops.state.operations import set_client, set_halt

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _log(session: Session) -> list[tuple[str, str, dict[str, object], str]]:
    rows = session.scalars(select(t.ApplyLog).order_by(t.ApplyLog.serial))
    return [(r.action, r.resource, r.detail, r.actor) for r in rows]


def test_set_client_makes_a_known_client_from_the_defaults_and_logs_the_change(
        db_url: str) -> None:
    db = open_database(db_url)
    asked: list[bool] = []

    def file_clients() -> list[str]:
        asked.append(True)
        return ["acme"]

    try:
        with db.session() as session:
            after = set_client(session, "acme", subscription=None, credits=5000,
                               defaults=ClientDefaults(subscription="trialing", credits=10),
                               file_clients=file_clients, now=NOW)
        assert after == {"subscription": "trialing", "credits": 5000}
        assert asked == [True]
        with db.session() as session:
            set_client(session, "acme", subscription="active", credits=None,
                       defaults=ClientDefaults(), file_clients=lambda: pytest.fail("read"),
                       now=NOW)
            row = session.get(t.Client, "acme")
            assert row is not None
            assert (row.subscription, row.credits) == ("active", 5000)
            assert [e[:2] for e in _log(session)] == [("client", "acme/Client/acme")] * 2
            assert _log(session)[1][2] == {
                "before": {"subscription": "trialing", "credits": 5000},
                "after": {"subscription": "active", "credits": 5000}}
            assert {e[3] for e in _log(session)} == {"cli"}
    finally:
        db.dispose()


def test_set_client_refuses_a_client_nobody_knows(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with pytest.raises(CampaignGitopsError, match="no client 'ghost'") as caught, \
                db.session() as session:
            set_client(session, "ghost", subscription="active", credits=None,
                       defaults=ClientDefaults(), file_clients=lambda: ["acme"], now=NOW)
        assert "known clients: acme" in (caught.value.hint or "")
        with db.session() as session:
            assert session.get(t.Client, "ghost") is None
            assert _log(session) == []
    finally:
        db.dispose()


def test_set_halt_global_and_per_client(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with db.session() as session:
            set_halt(session, None, halted=True, reason="complaint", now=NOW)
        with db.session() as session:
            assert kv.global_halt(session) == {"halted": True, "reason": "complaint",
                                               "at": NOW.isoformat()}
            set_halt(session, None, halted=False, reason=None, now=NOW)
        with db.session() as session:
            assert kv.global_halt(session) is None
            with pytest.raises(CampaignGitopsError, match="no client 'acme'"):
                set_halt(session, "acme", halted=True, reason=None, now=NOW)
        with db.session() as session:
            session.add(t.Client(name="acme", subscription="active", credits=1, created_at=NOW))
        with db.session() as session:
            set_halt(session, "acme", halted=True, reason="bounces", now=NOW)
        with db.session() as session:
            halted = session.get(t.Client, "acme")
            assert halted is not None and halted.halted is True
            assert [e[:3] for e in _log(session)] == [
                ("halt", "*", {"reason": "complaint"}), ("resume", "*", {"reason": None}),
                ("halt", "acme/Client/acme", {"reason": "bounces"})]
    finally:
        db.dispose()
