"""Shared fixtures: real databases (SQLite files and the PostgreSQL server), repos in tmp_path.

PostgreSQL tests skip with a clear reason when no server is reachable; with
``CAMPAIGN_GITOPS_REQUIRE_PG=1`` (set by ``.ci/run``) that skip becomes a failure.
Each PostgreSQL test gets a fresh database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_repo

PG_ADMIN_URL = os.environ.get("CAMPAIGN_GITOPS_TEST_PG",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("CAMPAIGN_GITOPS_REQUIRE_PG") == "1"
REQUIRE_BROWSER = os.environ.get("CAMPAIGN_GITOPS_REQUIRE_BROWSER") == "1"


def _pg_unavailable_reason() -> str | None:
    try:
        import psycopg

        url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means: no server here
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


_PG_REASON: str | bool | None = False


def pg_reason() -> str | None:
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _pg_unavailable_reason()
    return _PG_REASON  # type: ignore[return-value]


def require_pg() -> None:
    reason = pg_reason()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"{reason} (CAMPAIGN_GITOPS_REQUIRE_PG=1 forbids skipping)")
        pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    require_pg()
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"cg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from campaign_gitops.state import db as dbmod

    dbmod._checked.clear()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs the test on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield request.getfixturevalue("pg_url")


EXAMPLE_REPO = Path(__file__).resolve().parent.parent / "campaigns"


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """The example repository (``tests.helpers.ACME``) in tmp_path; returns its root."""
    make_repo(tmp_path)
    return tmp_path
