"""SQLite: a read-only session reads beside a writer; writers still queue (BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select, text

from campaign_gitops.state import tables as t
from campaign_gitops.state.db import open_database


def test_a_reader_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    writer_in = threading.Event()
    release = threading.Event()

    def write() -> None:
        with db.session() as s:
            s.execute(text("INSERT INTO kv (key, value, updated_at) "
                           "VALUES ('k', '{}', '2026-01-01 00:00:00')"))
            writer_in.set()
            release.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert writer_in.wait(10)
        counts: list[int] = []
        reader = threading.Thread(target=lambda: counts.append(
            _count(db)))
        reader.start()
        reader.join(5)
        assert counts == [0]  # read the last committed snapshot, without waiting
    finally:
        release.set()
        writer.join(10)
    assert _count(db) == 1
    db.dispose()


def _count(db) -> int:  # type: ignore[no-untyped-def]
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(t.KeyValue))
