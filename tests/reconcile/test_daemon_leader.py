"""Leadership: a flock next to the SQLite file, an advisory lock on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.leader import FileLeader, LeaseLost, PgLeader
from campaign_gitops.state.db import open_database


def test_second_daemon_on_one_sqlite_file_is_refused(sqlite_url: str) -> None:
    first = FileLeader(sqlite_url)
    assert first.try_acquire() and first.still_held()
    second = FileLeader(sqlite_url)
    with pytest.raises(CampaignGitopsError, match="already running"):
        second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def _schema(pg_url: str) -> None:
    open_database(pg_url).dispose()  # the kv table the lease lives in


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_one_postgres_leader_until_it_lets_go(pg_url: str) -> None:
    _schema(pg_url)
    now = [0.0]
    a, b = PgLeader(pg_url, clock=lambda: now[0]), PgLeader(pg_url)
    try:
        assert a.try_acquire() and a.takeover is not None and a.takeover.why == "free"
        assert not b.try_acquire()
        assert a.still_held() and not b.still_held()
        a._conn.close()  # the leader's session dies (as when its process is killed)
        # its lease has 15 s left, but its backend is gone: taken over at once
        wait_until(b.try_acquire)
        assert b.takeover is not None and b.takeover.why == "session gone"
        assert b.takeover.previous == a.holder and b.takeover.term == 2
        now[0] += 1.0  # a renewal is due
        assert not a.still_held()  # the renewal finds another holder
        assert not a.try_acquire()
    finally:
        a.release()
        b.release()
    c = PgLeader(pg_url)
    assert c.try_acquire() and c.takeover is not None and c.takeover.why == "released"
    c.release()


def test_the_lease_runs_out_on_the_leaders_own_clock(pg_url: str) -> None:
    """A leader that cannot renew (frozen, cut off) stops applying by its own clock,
    before the server's expiry: no database call is needed to know."""
    _schema(pg_url)
    now = [0.0]
    a = PgLeader(pg_url, ttl=10.0, clock=lambda: now[0])
    try:
        assert a.try_acquire() and a.may_apply()
        now[0] = 7.9
        assert a.may_apply()
        now[0] = 8.0  # 80 % of the lease since the renewal was sent
        assert not a.may_apply()
        a._conn.close()
        a.conninfo = "host=127.0.0.1 port=1 connect_timeout=1"  # renewal cannot get through
        assert not a.still_held()
    finally:
        a.release()


def test_a_frozen_leaders_open_transaction_is_fenced_off(pg_url: str) -> None:
    """The deposed leader's transaction that passed its lease check before freezing is
    ended by the new leader's fence; its next transaction fails the lease check in the
    database even though its own (frozen) clock still says the lease is valid."""
    _schema(pg_url)
    frozen = [0.0]
    a = PgLeader(pg_url, ttl=1.0, clock=lambda: frozen[0])
    b = PgLeader(pg_url, ttl=30.0)
    db = open_database(pg_url)
    try:
        assert a.try_acquire()
        stale = db.engine.connect()
        stale.begin()
        a.guard(stale)  # checked, holds the advisory lock shared: then the process freezes
        wait_until(b.try_acquire)  # the lease expired on the server's clock
        assert b.takeover is not None and b.takeover.why == "expired"
        assert len(b.takeover.terminated) == 1
        with pytest.raises(OperationalError):
            stale.execute(text("SELECT 1"))  # its backend was ended: nothing commits
        stale.close()
        with db.engine.connect() as again, again.begin(), pytest.raises(LeaseLost):
            a.guard(again)
        with db.engine.connect() as ours, ours.begin():
            b.guard(ours)
    finally:
        a.release()
        b.release()
        db.dispose()
