"""Sessions that expire and revoke, a strong token beyond loopback, the login rate limit,
NUL bytes on PostgreSQL, real loopback checks. (The reviewer's reason, HTML 404 pages and
405 with Allow are in test_security.py, on its world.)

The apps run over real databases (SQLite files and the PostgreSQL server) through the
ASGI test client; clocks are passed in, never waited for.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from campaign_gitops.config.project_file import load_project_file
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.netloc import is_loopback
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.kv import UI_SESSION_PREFIX
from campaign_gitops.state.tables import KeyValue
from campaign_gitops.web.app import check_bind, create_app
from campaign_gitops.web.security import token_weakness

TOKEN = "kR4v9-Qe1XbTz0pWmN7sLc2YhJ8uFgD5aE3oVi6"
OTHER_TOKEN = "Zt8nQ2wErT5yUi9oPa1sDf4gHj7kLz0xCv3bN6m"
T0 = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A settable wall clock and monotonic clock for one test."""

    def __init__(self) -> None:
        self.now = T0
        self.seconds = 1000.0

    def wall(self) -> dt.datetime:
        return self.now

    def mono(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
        self.seconds += seconds


def app_client(db: Database, clock: Clock, token: str | None = TOKEN,
               **kwargs: object) -> TestClient:
    app = create_app(db, token=token, clock=clock.wall, monotonic=clock.mono,
                     session_ttl=dt.timedelta(hours=1), **kwargs)  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


def sign_in(c: TestClient, token: str = TOKEN) -> str:
    """Signs ``c`` in through the form; returns the session cookie's value."""
    c.get("/login")
    response = c.post("/login", data={"token": token, "csrf_token": c.cookies["cg_csrf"]},
                      follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(c.cookies["cg_session"])


def with_cookie(db: Database, clock: Clock, cookie: str, token: str = TOKEN) -> TestClient:
    c = app_client(db, clock, token)
    c.cookies.set("cg_session", cookie)
    return c


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


# ------------------------------------------------------------------ 1. sessions


def test_a_session_expires_by_the_clock(db: Database) -> None:
    clock = Clock()
    c = app_client(db, clock)
    cookie = sign_in(c)
    assert c.get("/api/v1/status").status_code == 200
    clock.advance(59 * 60)
    assert c.get("/api/v1/status").status_code == 200
    clock.advance(2 * 60)
    assert c.get("/api/v1/status").status_code == 401
    page = c.get("/campaigns", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert with_cookie(db, clock, cookie).get("/api/v1/status").status_code == 401


def test_logout_revokes_the_session_everywhere(db: Database) -> None:
    clock = Clock()
    c = app_client(db, clock)
    cookie = sign_in(c)
    copy = with_cookie(db, clock, cookie)  # e.g. a stolen cookie, or a second replica
    assert copy.get("/api/v1/status").status_code == 200
    out = c.post("/logout", data={"csrf_token": c.cookies["cg_csrf"]}, follow_redirects=False)
    assert out.status_code == 303
    assert copy.get("/api/v1/status").status_code == 401
    assert with_cookie(db, clock, cookie).get("/api/v1/status").status_code == 401


def test_each_login_is_its_own_session_and_the_cookie_is_not_the_token(db: Database) -> None:
    clock = Clock()
    first, second = sign_in(app_client(db, clock)), sign_in(app_client(db, clock))
    assert first != second and TOKEN not in first
    with db.reading() as session:
        keys = session.scalars(select(KeyValue.key).where(
            KeyValue.key.startswith(UI_SESSION_PREFIX))).all()
    assert len(keys) == 2 and not any(first.split(".")[0] in k for k in keys)


def test_a_new_token_revokes_every_session(db: Database) -> None:
    clock = Clock()
    cookie = sign_in(app_client(db, clock))
    assert with_cookie(db, clock, cookie).get("/api/v1/status").status_code == 200
    assert with_cookie(db, clock, cookie, OTHER_TOKEN).get("/api/v1/status").status_code == 401
    sign_in(app_client(db, clock, OTHER_TOKEN), OTHER_TOKEN)  # the new token's first login prunes
    with db.reading() as session:
        left = session.scalars(select(KeyValue.key).where(
            KeyValue.key.startswith(UI_SESSION_PREFIX))).all()
    assert len(left) == 1
    assert with_cookie(db, clock, cookie).get("/api/v1/status").status_code == 401


def test_a_forged_or_tampered_cookie_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    database = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    cookie = sign_in(app_client(database, clock))
    session_id, _, rest = cookie.partition(".")
    for bad in ("x", f"{session_id}x.{rest}", f"{session_id}.{rest[:-2]}AA", "a.b.c"):
        assert with_cookie(database, clock, bad).get("/api/v1/status").status_code == 401
    database.dispose()


# ------------------------------------------------------------------ 2. a strong token


def test_a_public_bind_needs_a_strong_token() -> None:
    for weak in ("x", "s3cret-token-for-tests", "a" * 64, "ab" * 20, "0123456789" * 4,
                 "passwordpasswordpasswordpassword"):
        assert token_weakness(weak), weak
        with pytest.raises(CampaignGitopsError, match="weak") as caught:
            check_bind("0.0.0.0", weak)
        assert "secrets.token_urlsafe(32)" in str(caught.value.hint)
    rng = random.Random(13)
    for _ in range(200):  # what the suggested commands make: urlsafe 32, hex 24 and 16
        for alphabet, length in ((string.ascii_letters + string.digits + "-_", 43),
                                 ("0123456789abcdef", 48), ("0123456789abcdef", 32)):
            made = "".join(rng.choice(alphabet) for _ in range(length))
            assert token_weakness(made) is None, made
            check_bind("0.0.0.0", made)
    check_bind("0.0.0.0", secrets.token_urlsafe(32))
    check_bind("127.0.0.1", "x")  # loopback: any token, or none, as before
    check_bind("::1", None)


# ------------------------------------------------------------------ 3. login rate limit


def test_login_is_rate_limited_per_client_address(tmp_path: Path) -> None:
    clock = Clock()
    database = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    app = create_app(database, token=TOKEN, clock=clock.wall, monotonic=clock.mono)
    guesser = TestClient(app, client=("203.0.113.7", 40000))
    guesser.get("/login")
    csrf = guesser.cookies["cg_csrf"]
    codes = [guesser.post("/login", data={"token": f"guess-{i}", "csrf_token": csrf}
                          ).status_code for i in range(10)]
    assert codes == [401] * 10
    limited = guesser.post("/login", data={"token": TOKEN, "csrf_token": csrf})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "cg_session" not in guesser.cookies  # even the right token waits
    other = TestClient(app, client=("198.51.100.9", 40000))  # another address
    sign_in(other)
    clock.advance(int(limited.headers["retry-after"]))
    again = guesser.post("/login", data={"token": TOKEN, "csrf_token": csrf},
                         follow_redirects=False)
    assert again.status_code == 303
    database.dispose()


# ------------------------------------------------------------------ 4. NUL bytes

NUL_GETS = ["/api/v1/campaigns?client=a%00b", "/api/v1/runs?status=%00",
            "/api/v1/communications?campaign=x%00", "/api/v1/replies?kind=%00",
            "/campaigns?q=%00", "/runs?client=%00", "/communications?channel=%00",
            "/replies?client=%00", "/suppressions?client=%00",
            "/api/v1/campaigns/acme%00/x", "/campaigns/acme/x%00", "/campaigns?selected=a%00/b"]


@pytest.mark.postgres
@pytest.mark.parametrize("path", NUL_GETS)
def test_a_nul_byte_is_a_400_on_postgresql(pg_url: str, path: str) -> None:
    database = open_database(pg_url)
    c = TestClient(create_app(database), raise_server_exceptions=False)
    response = c.get(path)
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert "NUL" in response.json()["detail"]
    else:
        assert response.headers["content-type"].startswith("text/html")
    database.dispose()


# ------------------------------------------------------------------ 9. loopback


def test_loopback_is_an_address_not_a_prefix(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("127.evil.example", "127.0.0.1.nip.io", "localhost.evil.example",
                 "0.0.0.0", "10.0.0.1", "::", "", "example.com"):
        assert not is_loopback(host), host
    with pytest.raises(CampaignGitopsError, match="without a token"):
        check_bind("127.evil.example", None)
    (tmp_path / "campaign-gitops.yaml").write_text("publicUrl: http://127.evil.example\n")
    loaded = load_project_file(tmp_path)
    assert not loaded.ok and "must use https://" in loaded.findings[0].message

