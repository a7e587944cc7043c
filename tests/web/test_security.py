"""Token, session cookie, CSRF, Host check, escaping of untrusted text, no secret rendered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from campaign_gitops.cli.main import cli
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.replies import ReplyInput, add_reply
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import KeyValue, Message
from campaign_gitops.web.app import check_bind, create_app
from campaign_gitops.web.security import TOKEN_ENV
from tests.web.web_world import World, build_world

TOKEN = "s3cret-token-for-tests"
XSS = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("websec")
    w = build_world(tmp, f"sqlite:///{tmp / 'state.db'}", ticks=3)
    yield w
    w.db.dispose()


@pytest.fixture
def locked(world: World) -> TestClient:
    return TestClient(create_app(world.db, project=world.project, config=world.config,
                                 token=TOKEN))


@pytest.fixture
def open_app(world: World) -> TestClient:
    return TestClient(create_app(world.db, project=world.project, config=world.config),
                      raise_server_exceptions=False)


def _pending(c: TestClient, headers: dict[str, str] | None = None) -> int:
    return int(c.get("/api/v1/review", headers=headers or {}).json()["items"][0]["id"])


def test_api_needs_the_token(locked: TestClient) -> None:
    assert locked.get("/api/v1/campaigns").status_code == 401
    assert locked.get("/api/v1/status", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401
    ok = locked.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["items"]


def test_pages_redirect_to_login_and_static_is_open(locked: TestClient) -> None:
    response = locked.get("/campaigns", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert locked.get("/static/app.css").status_code == 200
    login = locked.get("/login")
    assert login.status_code == 200 and "delivery" not in login.text  # no header data


def test_login_form_sets_an_httponly_strict_cookie(locked: TestClient) -> None:
    csrf = locked.get("/login").cookies.get("cg_csrf") or locked.cookies["cg_csrf"]
    bad = locked.post("/login", data={"token": "nope", "csrf_token": csrf})
    assert bad.status_code == 401 and "wrong token" in bad.text
    good = locked.post("/login", data={"token": TOKEN, "csrf_token": csrf},
                       follow_redirects=False)
    assert good.status_code == 303
    cookie = good.headers["set-cookie"]
    assert cookie.startswith("cg_session=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # a signed session id, never the token
    assert locked.get("/campaigns").status_code == 200
    assert locked.get("/api/v1/status").status_code == 200


def test_login_needs_the_csrf_field(locked: TestClient) -> None:
    locked.get("/login")
    assert locked.post("/login", data={"token": TOKEN}).status_code == 403


def test_state_change_needs_csrf_with_a_cookie_session(world: World) -> None:
    c = TestClient(create_app(world.db, project=world.project, config=world.config,
                              token=TOKEN))
    csrf = c.get("/login").cookies.get("cg_csrf") or c.cookies["cg_csrf"]
    c.post("/login", data={"token": TOKEN, "csrf_token": csrf})
    mid = _pending(c)
    assert c.post(f"/api/v1/review/{mid}/approve").status_code == 403
    assert c.post(f"/api/v1/review/{mid}/approve",
                  headers={"X-CSRF-Token": "forged"}).status_code == 403
    cross = c.post(f"/api/v1/review/{mid}/approve",
                   headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert _status(world, mid) == "pending_review"


def test_bearer_requests_are_exempt_from_the_csrf_check(world: World,
                                                        locked: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    mid = _pending(locked, auth)
    assert locked.post(f"/api/v1/review/{mid}/reject", headers=auth).status_code == 200
    assert _status(world, mid) == "rejected"


def test_without_a_token_posts_still_need_csrf(world: World, open_app: TestClient) -> None:
    mid = _pending(open_app)
    assert open_app.post(f"/api/v1/review/{mid}/approve").status_code == 403
    csrf = open_app.cookies["cg_csrf"]
    page = open_app.get("/review").text
    assert f'name="csrf_token" value="{csrf}"' in page
    form = open_app.post(f"/review/{mid}/approve", data={"csrf_token": csrf},
                         follow_redirects=False)
    assert form.status_code == 303 and _status(world, mid) == "approved"


def test_host_header_is_checked_on_a_tokenless_server(world: World) -> None:
    c = TestClient(create_app(world.db, project=world.project, config=world.config,
                              allowed_hosts=("127.0.0.1", "localhost")),
                   base_url="http://127.0.0.1:8080")
    assert c.get("/api/v1/status").status_code == 200
    rebinding = c.get("/api/v1/status", headers={"Host": "attacker.example:8080"})
    assert rebinding.status_code == 400


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CampaignGitopsError, match="without a token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "kR4v9-Qe1XbTz0pWmN7sLc2YhJ8uFgD5aE3oVi6")  # strong: see hardening
    check_bind("127.0.0.1", None)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "campaigns").mkdir()
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 's.db'}", "ui",
                                      "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0
    assert "refusing to listen on 0.0.0.0 without a token" in result.output
    assert "secrets.token_urlsafe(32)" in result.output  # how to make one
    monkeypatch.setenv(TOKEN_ENV, "tok-123")
    weak = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 's.db'}", "ui",
                                    "--host", "0.0.0.0", "--port", "0"])
    assert weak.exit_code != 0
    assert "refusing to listen on 0.0.0.0 with a weak" in weak.output
    assert "secrets.token_urlsafe(32)" in weak.output


def test_message_and_reply_text_is_escaped(world: World, open_app: TestClient) -> None:
    with world.db.session() as session:
        mid = session.execute(select(Message.id).where(Message.status == "sent")
                              .order_by(Message.id.desc()).limit(1)).scalar_one()
        session.execute(update(Message).where(Message.id == mid).values(
            body=XSS, subject=XSS, recipient="x@example.com"))
        add_reply(session, ReplyInput(contact="stranger@example.com", kind="reply", body=XSS),
                  now=world_now())
        pending = session.execute(select(Message.id).where(
            Message.status == "pending_review").limit(1)).scalar()
        if pending is not None:
            session.execute(update(Message).where(Message.id == pending).values(body=XSS))
    pages = [open_app.get("/communications").text, open_app.get("/replies").text,
             open_app.get("/review").text,
             open_app.get(f"/runs/{_run_of(world, mid)}").text]
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in pages[0]
    assert "&lt;script&gt;" in pages[1]
    api = open_app.get("/api/v1/communications?limit=200").json()["items"]
    assert XSS in [m["body"] for m in api]  # the API returns the text as it is (JSON)
    assert open_app.get("/communications").headers["x-content-type-options"] == "nosniff"


def test_no_secret_is_rendered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    db = open_database(url)
    with db.session() as session:
        session.add(KeyValue(key="reconcile:last", value={
            "at": "2026-12-01T00:00:00+00:00", "commit": "abc1234def", "ok": False,
            "failing_files": ["campaigns/acme/x.yaml"], "errors": []}))
    db.url = "postgresql+psycopg://cg:hunter2-password@db.internal:5432/cg"  # as configured
    c = TestClient(create_app(db))
    page = c.get("/campaigns").text
    assert "hunter2" not in page and "***" in page
    assert "hunter2" not in c.get("/api/v1/status").text
    assert "abc1234def" in page and "1 failing file" in page
    db.dispose()


def test_the_review_pages_reason_has_the_apis_limit(world: World, open_app: TestClient) -> None:
    mid = int(open_app.get("/api/v1/review").json()["items"][0]["id"])
    csrf = open_app.cookies["cg_csrf"]
    too_long = open_app.post(f"/review/{mid}/reject",
                             data={"csrf_token": csrf, "reason": "x" * 501},
                             follow_redirects=False)
    assert too_long.status_code == 422 and "500" in too_long.text
    assert too_long.headers["content-type"].startswith("text/html")
    api = open_app.post(f"/api/v1/review/{mid}/reject", json={"reason": "x" * 501},
                        headers={"X-CSRF-Token": csrf})
    assert api.status_code == 422
    assert _status(world, mid) == "pending_review"
    ok = open_app.post(f"/review/{mid}/reject", data={"csrf_token": csrf, "reason": "y" * 500},
                       follow_redirects=False)
    assert ok.status_code == 303 and _status(world, mid) == "rejected"


def test_pages_answer_404_with_an_html_page_the_api_with_json(open_app: TestClient) -> None:
    for path in ("/no-such-page", "/runs/987654321", "/runs/987654321/config",
                 "/campaigns/acme/no-such-campaign"):
        page = open_app.get(path, headers={"HX-Request": "true"} if "acme" in path else {})
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "<h1>404" in page.text and "Back to the campaigns" in page.text
    for path in ("/api/v1/no-such-thing", "/api/v1/runs/987654321",
                 "/api/v1/campaigns/acme/no-such-campaign"):
        api = open_app.get(path)
        assert api.status_code == 404 and "detail" in api.json(), path
    bad = open_app.get("/runs?before=not-a-number")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert open_app.get("/api/v1/runs?before=x").json()["detail"][0]["loc"] == [
        "query", "before"]


def test_unsupported_methods_are_405_with_allow(world: World, open_app: TestClient) -> None:
    open_app.get("/campaigns")  # a CSRF cookie, but no header: the check must not answer
    for method, path, allow in (("PUT", "/api/v1/campaigns", "GET"),
                                ("POST", "/api/v1/runs", "GET"),
                                ("DELETE", "/api/v1/review/1/approve", "POST"),
                                ("PATCH", "/api/v1/status", "GET"),
                                ("PUT", "/campaigns", "GET")):
        response = open_app.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allow
    locked = TestClient(create_app(world.db, token=TOKEN))
    assert locked.put("/api/v1/campaigns").status_code == 401  # unauthenticated first
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert locked.put("/api/v1/campaigns", headers=auth).status_code == 405


def test_every_404_of_the_api_is_documented(open_app: TestClient) -> None:
    paths = open_app.get("/api/v1/openapi.json").json()["paths"]
    for path, method in (("/api/v1/campaigns/{client}/{name}", "get"),
                         ("/api/v1/runs/{run_id}", "get"),
                         ("/api/v1/runs/{run_id}/config", "get"),
                         ("/api/v1/review/{message_id}/approve", "post"),
                         ("/api/v1/review/{message_id}/reject", "post")):
        assert "404" in paths[path][method]["responses"], path
    assert "409" in paths["/api/v1/review/{message_id}/approve"]["post"]["responses"]


def world_now() -> dt.datetime:
    """A time after the world's ticks."""
    return dt.datetime(2026, 12, 9, tzinfo=dt.UTC)


def _status(world: World, mid: int) -> str:
    with world.db.session() as session:
        return session.execute(select(Message.status).where(Message.id == mid)).scalar_one()


def _run_of(world: World, mid: int) -> int:
    with world.db.session() as session:
        return session.execute(select(Message.run_id).where(Message.id == mid)).scalar_one()
