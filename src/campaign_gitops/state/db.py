"""Engines, sessions and the backend specifics of SQLite and PostgreSQL.

``open_database(url)`` is the one way in: it creates the engine, applies the Alembic
migrations shipped in the package when the database is new or older than this code
(serialised by an advisory lock on PostgreSQL), and hands out sessions. Which URL
is effective (flag > campaign-gitops.yaml > environment > SQLite at the repo root) is
decided in one place, ``config/settings.py``; the CLI opens it with ``Context.open_db``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.redact import redact_text, redact_url
from campaign_gitops.state import ENV_DB, normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "campaign_gitops_read_only"
_UPGRADE_LOCK_ID = 0x6361_6D70  # "camp": serialises migrations on PostgreSQL


def _orig(exc: DatabaseError) -> str:
    """The driver's message, with any URL in it redacted."""
    return redact_text(str(exc.orig))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def parse_url(url: str) -> URL:
    """SQLAlchemy's URL of ``url``; a malformed one is a clear error (its password hidden)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
        raise CampaignGitopsError(
            f"invalid database URL {redact_url(url)!r}",
            "use sqlite:///path/state.db or postgresql+psycopg://user@host/db") from exc


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CampaignGitopsError(
                    f"cannot create the folder {folder} for the SQLite database: "
                    f"{exc.strerror or exc}",
                    "pass --db with a writable path, or a PostgreSQL URL") from exc
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, open transactions: BEGIN IMMEDIATE takes the
        # write lock up front, so two writers queue instead of failing on upgrade.
        # A read-only transaction (Database.reading) begins deferred: under WAL it reads
        # a snapshot beside the writer instead of queueing behind it.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"))

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise CampaignGitopsError(f"unsupported database {parsed.get_backend_name()!r}",
                              "use SQLite or PostgreSQL")


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the schema to this code's head (idempotent, safe with concurrent callers)."""
    from alembic import command

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK_ID})
        command.upgrade(_alembic_config(conn), "head")


@dataclass
class Database:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not take the write lock, so pages
        and reports never wait for tick or apply. Writing through it is a mistake."""
        reader = self.engine.execution_options(**{READ_ONLY: True})
        with Session(reader, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


class NoDatabaseError(CampaignGitopsError):
    """A read command found no database: reads never create one (exit 1)."""

    exit_code = 1


def _exists(engine: Engine, url: str) -> bool:
    """Whether ``url`` holds a campaign-gitops database (without creating anything)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or not Path(database).is_file():
            return False
    try:
        return current_revision(engine) is not None
    except OperationalError as exc:
        raise CampaignGitopsError(f"cannot open the database {redact_url(url)}: {_orig(exc)}",
                                  f"check --db or {ENV_DB}; is the server running?") from exc
    except DatabaseError as exc:
        raise CampaignGitopsError(f"{redact_url(url)} is not a usable database: {_orig(exc)}",
                                  "point --db at a campaign-gitops database") from exc


_checked: set[str] = set()
_checked_lock = threading.Lock()


def open_database(url: str, *, migrate: bool = True, create: bool = True) -> Database:
    """Open (and, on first use, create or upgrade) the database at ``url``.

    ``create=False`` (read commands): a missing database raises NoDatabaseError instead
    of being created; no SQLite file or folder appears.
    """
    url = normalize_url(url)
    if not create:
        parsed = parse_url(url)
        if parsed.get_backend_name() == "sqlite" and not (
                parsed.database and Path(parsed.database).is_file()):
            raise NoDatabaseError(f"no database at {redact_url(url)} yet: nothing to show",
                                  "run `campaign-gitops apply` first, or pass --db with the "
                                  "database to read")
    engine = make_engine(url)
    if not create and not _exists(engine, url):
        engine.dispose()
        raise NoDatabaseError(f"{redact_url(url)} holds no campaign-gitops tables yet: "
                              "nothing to show",
                              "run `campaign-gitops apply` first, or pass --db with the "
                              "database to read")
    if migrate:
        with _checked_lock:
            if url not in _checked:
                try:
                    if current_revision(engine) != head_revision():
                        upgrade(engine)
                except OperationalError as exc:
                    raise CampaignGitopsError(
                        f"cannot open the database {redact_url(url)}: {_orig(exc)}",
                        f"check --db or {ENV_DB}; is the server running?") from exc
                except DatabaseError as exc:
                    raise CampaignGitopsError(
                        f"{redact_url(url)} is not a usable database: {_orig(exc)}",
                        "point --db at a campaign-gitops database or a new file") from exc
                if engine.dialect.name != "sqlite" or engine.url.database not in (
                        None, "", ":memory:"):  # each in-memory database is a new one
                    _checked.add(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    return Database(url, engine, sessions)


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """The rows an UPDATE, INSERT or DELETE matched: ``Session.execute`` types its result as
    a plain ``Result``, whose ``rowcount`` only the ``CursorResult`` of such a statement has."""
    assert isinstance(result, CursorResult), type(result)
    return result.rowcount
