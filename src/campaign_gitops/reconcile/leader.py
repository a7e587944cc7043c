"""Who may reconcile: one leader per database.

PostgreSQL: a **lease** is primary, the **advisory lock** is the second guard.

- The lease is one row of ``kv`` (``reconcile:leader``): ``holder`` (host:pid:random),
  ``term`` (+1 on every takeover), ``pid`` (the server backend of the holder's lease
  connection) and ``expires_at``, always computed by the server's clock
  (``clock_timestamp()``), so replicas on hosts with skewed clocks agree on it.
- The leader renews it (``expires_at = now + ttl``) about once a second from its loop,
  only while ``holder`` and ``term`` are still its own.
- A follower takes it over when it expired, or at once when the holder's backend is
  gone from ``pg_stat_activity`` (the holder was killed: the kernel closed its socket,
  the server ended the session) — so SIGKILL fails over in about a second, while a
  frozen leader (SIGSTOP, a stalled VM: its session stays open) is replaced when its
  lease expires, within ``ttl`` plus a second.
- The leader measures its lease on its own monotonic clock (injected): it counts as
  valid until ``ttl * SAFETY`` after the moment it *sent* the renewal (the server's
  expiry is later than that). ``may_apply()`` is that local check, with no database
  call; the daemon asks it before every change, so a leader that could not renew in
  time (frozen, cut off, the database slow) stops applying by itself.
- Every apply transaction also calls ``guard(connection)`` first: it takes the advisory
  lock *shared* for the transaction (``pg_advisory_xact_lock_shared``), then re-reads
  the lease in the same transaction against the server's clock; not ours any more →
  ``LeaseLost`` and a rollback. This closes the gap between the local check and the
  commit: a leader frozen after the check, its transaction open, holds the shared lock.
- Taking over, the new leader fences before its first pass: it takes the advisory lock
  *exclusively* for an instant; while a stale transaction holds it shared, it ends that
  backend with ``pg_terminate_backend`` (the server rolls it back) and tries again. Any
  holder at that moment is a transaction of a deposed leader: its lease check ran
  before the takeover, or it will fail now. After the fence, no old transaction can
  commit, and the new leader's full pass reads the database as it is.

So a frozen leader that wakes up (SIGCONT) applies nothing: its local lease ran out,
its next renewal finds another holder, an open transaction of its was rolled back,
and a new one fails the lease check. It turns follower. Terminating backends needs the
same database role for every replica (or ``pg_signal_backend``), as in the shipped
deployment. A graceful stop expires the lease at once.

SQLite: an exclusive ``flock`` on a file next to the database; a second daemon on the
same file refuses to start (one daemon per SQLite file: no takeover to arrange).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state import normalize_url

LOCK_ID = 0x6367_7265_636F_6E31  # "cgreconc1": the reconcile leader, distinct from migrations
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
              "keepalives_count": 3, "tcp_user_timeout": 10000}
LEASE_KEY = "reconcile:leader"
DEFAULT_TTL = 15.0
SAFETY = 0.8  # the leader stops applying at 80 % of the lease, before it can expire
FENCE_TRIES = 50


class LeaseLost(Exception):
    """Raised in an apply transaction when this daemon is no longer the leader."""


class Leadership(Protocol):
    kind: str

    def try_acquire(self) -> bool:
        """Take the lead if it is free; True while this process holds it."""

    def still_held(self) -> bool:
        """Renew when due; True while the lead is still ours."""

    def may_apply(self) -> bool:
        """The lead is ours right now, by the local clock (no database call)."""

    def guard(self, connection: Connection) -> None:
        """At the start of an apply transaction: raise ``LeaseLost`` if not the leader."""

    def release(self) -> None: ...


def pg_conninfo(url: str) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _value(term_sql: str) -> str:
    return (f"json_build_object('holder', %(me)s::text, 'term', {term_sql}, "
            "'pid', pg_backend_pid(), "
            "'expires_at', clock_timestamp() + make_interval(secs => %(ttl)s))")


_TAKE = f"""
WITH old AS (
  SELECT value->>'holder' AS holder,
         CASE WHEN value->>'holder' = %(me)s THEN 'retaken'
              WHEN (value->>'expires_at')::timestamptz = '-infinity' THEN 'released'
              WHEN (value->>'expires_at')::timestamptz <= clock_timestamp() THEN 'expired'
              WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                               WHERE a.pid = (value->>'pid')::int) THEN 'session gone'
              ELSE 'taken' END AS why
  FROM kv WHERE key = %(key)s)
INSERT INTO kv (key, value, updated_at)
VALUES (%(key)s, {_value("1")}, clock_timestamp())
ON CONFLICT (key) DO UPDATE
SET value = {_value("COALESCE((kv.value->>'term')::bigint, 0) + 1")},
    updated_at = clock_timestamp()
WHERE kv.value->>'holder' = %(me)s
   OR (kv.value->>'expires_at')::timestamptz <= clock_timestamp()
   OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = (kv.value->>'pid')::int)
RETURNING (value->>'term')::bigint, (SELECT holder FROM old),
          COALESCE((SELECT why FROM old), 'free')
"""
_RENEW = f"""
UPDATE kv SET value = {_value("%(term)s::bigint")}, updated_at = clock_timestamp()
WHERE key = %(key)s AND value->>'holder' = %(me)s AND (value->>'term')::bigint = %(term)s
RETURNING 1
"""
_RELEASE = """
UPDATE kv SET value = json_build_object('holder', %(me)s::text, 'term', %(term)s::bigint,
                                        'pid', 0, 'expires_at', '-infinity'::timestamptz),
              updated_at = clock_timestamp()
WHERE key = %(key)s AND value->>'holder' = %(me)s AND (value->>'term')::bigint = %(term)s
"""
_CHECK = text("""
SELECT 1 FROM kv WHERE key = :key AND value->>'holder' = :me
   AND (value->>'term')::bigint = :term
   AND (value->>'expires_at')::timestamptz > clock_timestamp()
""")
_HOLDERS = """
SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
   AND classid = %(hi)s::oid AND objid = %(lo)s::oid AND objsubid = 1
"""


@dataclass(frozen=True, slots=True)
class Takeover:
    """How the lead was taken: from whom, why, and which stale backends were ended."""

    term: int
    previous: str | None
    why: str  # free, expired, session gone, released, retaken (taken: changed meanwhile)
    terminated: tuple[int, ...] = ()


class PgLeader:
    """The lease (primary) and the advisory lock (per apply, and the takeover's fence)."""

    kind = "postgresql"

    def __init__(self, url: str, *, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic, holder: str | None = None,
                 lock_id: int = LOCK_ID) -> None:
        self.conninfo = pg_conninfo(url)
        self.ttl = ttl
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock_id = lock_id
        self.renew_every = min(1.0, ttl / 4)
        self._conn: Any = None
        self.held = False
        self.term: int | None = None
        self.valid_until = float("-inf")
        self.renewed_at = float("-inf")
        self.takeover: Takeover | None = None

    def _params(self, **more: Any) -> dict[str, Any]:
        return {"key": LEASE_KEY, "me": self.holder, "ttl": float(self.ttl),
                "term": self.term, **more}

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                         application_name="campaign-gitops-reconcile",
                                         **KEEPALIVES)
        return self._conn

    def try_acquire(self) -> bool:
        if self.held:
            return self.still_held()
        try:
            conn = self._connect()
            sent = self.clock()
            row = conn.execute(_TAKE, self._params()).fetchone()
            if row is None:
                return False
            self.term = int(row[0])
            self._renewed(sent)
            terminated = self._fence(conn)
        except Exception:  # the server is unreachable: follower until it is back
            self._drop()
            return False
        if terminated is None:  # a stale transaction would not go: try again later
            return False
        previous, why = (None if row[2] == "retaken" else row[1]), str(row[2])
        self.takeover = Takeover(self.term, previous, why, tuple(terminated))
        self.held = True
        return True

    def _fence(self, conn: Any) -> list[int] | None:
        """Take the advisory lock exclusively for an instant: every apply transaction of
        a deposed leader (holding it shared) is over, or is ended here."""
        hi, lo = self.lock_id >> 32, self.lock_id & 0xFFFF_FFFF
        terminated: list[int] = []
        for _ in range(FENCE_TRIES):
            if conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,)).fetchone()[0]:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
                return terminated
            for (pid,) in conn.execute(_HOLDERS, {"hi": hi, "lo": lo}).fetchall():
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                terminated.append(int(pid))
            time.sleep(0.05)  # the ended backends release their locks
        return None

    def _renewed(self, sent: float) -> None:
        self.renewed_at = sent
        self.valid_until = sent + self.ttl * SAFETY

    def may_apply(self) -> bool:
        return self.held and self.clock() < self.valid_until

    def still_held(self) -> bool:
        """Renews the lease when a renewal is due; False once it is lost or ran out."""
        if not self.held:
            return False
        sent = self.clock()
        if sent - self.renewed_at >= self.renew_every:
            try:
                row = self._connect().execute(_RENEW, self._params()).fetchone()
            except Exception:  # cannot reach the server: the lease runs out on its own
                self._close()
            else:
                if row is None:  # another daemon holds it now
                    self.held = False
                else:
                    self._renewed(sent)
        if self.held and not self.may_apply():
            self.held = False
        return self.held

    def guard(self, connection: Connection) -> None:
        if not self.may_apply():
            raise LeaseLost("the leader lease ran out before this change")
        connection.execute(text("SET LOCAL lock_timeout = '5s'"))
        connection.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": self.lock_id})
        if connection.execute(_CHECK, {"key": LEASE_KEY, "me": self.holder,
                                       "term": self.term}).first() is None:
            raise LeaseLost("another daemon holds the leader lease now")

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._conn.close()
        self._conn = None

    def _drop(self) -> None:
        self.held = False
        self._close()

    def release(self) -> None:
        if self.term is not None and self._conn is not None:
            with contextlib.suppress(Exception):  # unreachable: the lease expires anyway
                self._conn.execute(_RELEASE, self._params())
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

    def may_apply(self) -> bool:
        return self.still_held()

    def guard(self, connection: Connection) -> None:
        return None  # one daemon per SQLite file: nobody to be fenced from

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def leadership_for(url: str, *, ttl: float = DEFAULT_TTL,
                   clock: Callable[[], float] = time.monotonic) -> PgLeader | FileLeader:
    backend = make_url(normalize_url(url)).get_backend_name()
    return PgLeader(url, ttl=ttl, clock=clock) if backend == "postgresql" else FileLeader(url)
