"""Who may reconcile: one leader per database.

PostgreSQL: a session-level advisory lock held on a dedicated connection with TCP
keepalives. The server drops the lock when that session ends (process killed, host
gone, network cut and keepalives expired), and a follower's next ``try_acquire``
takes it. SQLite: an exclusive ``flock`` on a file next to the database; a second
daemon on the same file refuses to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.engine import make_url

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state import normalize_url

LOCK_ID = 0x6367_7265_636F_6E31  # "cgreconc1": the reconcile leader, distinct from migrations
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
              "keepalives_count": 3, "tcp_user_timeout": 10000}


class Leadership(Protocol):
    kind: str

    def try_acquire(self) -> bool:
        """Take the lead if it is free; True while this process holds it."""

    def still_held(self) -> bool:
        """Check that the lead is still ours (the lock connection is alive)."""

    def release(self) -> None: ...


def pg_conninfo(url: str) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class PgLeader:
    """A session-level ``pg_try_advisory_lock`` on a connection of its own."""

    kind = "postgresql"

    def __init__(self, url: str, lock_id: int = LOCK_ID) -> None:
        self.conninfo = pg_conninfo(url)
        self.lock_id = lock_id
        self._conn: Any = None
        self.held = False

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                               application_name="campaign-gitops-reconcile", **KEEPALIVES)

    def try_acquire(self) -> bool:
        if self.held:
            return self.still_held()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,)).fetchone()
            self.held = bool(row and row[0])
        except Exception:  # the server is unreachable: follower until it is back
            self._drop()
        return self.held

    def still_held(self) -> bool:
        if not self.held:
            return False
        try:
            self._conn.execute("SELECT 1").fetchone()
        except Exception:  # the session is gone, and the lock with it
            self._drop()
        return self.held

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._conn.close()
        self._conn = None

    def release(self) -> None:
        if self._conn is not None and self.held:
            with contextlib.suppress(Exception):  # closing the session releases it anyway
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
        self._drop()


def sqlite_lock_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database).absolute().with_name(Path(database).name + ".reconcile.lock")


class FileLeader:
    """An exclusive ``flock`` next to the SQLite file: one daemon per database."""

    kind = "sqlite"

    def __init__(self, url: str) -> None:
        self.path = sqlite_lock_path(url)
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None or self.path is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise CampaignGitopsError(
                f"another reconcile daemon ({holder}) is already running on this SQLite "
                f"database (lock file {self.path})",
                "run one daemon per SQLite database; use PostgreSQL for several replicas") from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None or self.path is None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def leadership_for(url: str) -> PgLeader | FileLeader:
    backend = make_url(normalize_url(url)).get_backend_name()
    return PgLeader(url) if backend == "postgresql" else FileLeader(url)
