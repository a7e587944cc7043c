"""Leadership: a flock next to the SQLite file, an advisory lock on PostgreSQL."""

from __future__ import annotations

import time

import pytest

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.leader import FileLeader, PgLeader


def test_second_daemon_on_one_sqlite_file_is_refused(sqlite_url: str) -> None:
    first = FileLeader(sqlite_url)
    assert first.try_acquire() and first.still_held()
    second = FileLeader(sqlite_url)
    with pytest.raises(CampaignGitopsError, match="already running"):
        second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_one_postgres_leader_until_it_lets_go(pg_url: str) -> None:
    a, b = PgLeader(pg_url), PgLeader(pg_url)
    try:
        assert a.try_acquire()
        assert not b.try_acquire()
        assert a.still_held() and not b.still_held()
        a._conn.close()  # the leader's session dies (as when its process is killed)
        assert not a.still_held()
        deadline = time.monotonic() + 10  # the server ends the session, then frees the lock
        while not b.try_acquire() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b.still_held()
        assert not a.try_acquire()
    finally:
        a.release()
        b.release()
    c = PgLeader(pg_url)
    assert c.try_acquire()
    c.release()
