"""``POST /hooks/git``: GitHub and GitLab signatures, other refs ignored, outside the UI token."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campaign_gitops.reconcile.remote import ref_matches
from campaign_gitops.web.app import create_app
from campaign_gitops.web.public import git_hook_router

SECRET = "hook-secret"


def app_with_hook(tmp_path: Path, secret: str | None, asked: list[str],
                  token: str | None = "ui-token") -> TestClient:
    app = create_app(f"sqlite:///{tmp_path / 'state.db'}", token=token)
    app.include_router(git_hook_router(asked.append, lambda r: ref_matches("main", r), "main",
                                       secret))
    return TestClient(app)


def push(ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "after": "0" * 40}).encode()


def github(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push",
            "Content-Type": "application/json"}


def test_signed_pushes_trigger_a_fetch_without_the_ui_token(tmp_path: Path) -> None:
    asked: list[str] = []
    client = app_with_hook(tmp_path, SECRET, asked)
    body = push()
    ok = client.post("/hooks/git", content=body, headers=github(body))
    assert ok.status_code == 202 and ok.json()["fetching"] is True
    gitlab = client.post("/hooks/git", content=body,
                         headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"})
    assert gitlab.status_code == 202
    assert asked == ["github push to refs/heads/main", "gitlab push to refs/heads/main"]
    assert client.get("/api/v1/status").status_code == 401  # the UI itself still needs it


@pytest.mark.parametrize("headers", [
    {},
    {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    {"X-Hub-Signature-256": "sha1=abc"},
    {"X-Gitlab-Token": "wrong"},
])
def test_bad_or_missing_signatures_are_401(tmp_path: Path, headers: dict[str, str]) -> None:
    asked: list[str] = []
    client = app_with_hook(tmp_path, SECRET, asked)
    response = client.post("/hooks/git", content=push(), headers=headers)
    assert response.status_code == 401 and asked == []


def test_a_body_changed_after_signing_is_refused(tmp_path: Path) -> None:
    asked: list[str] = []
    client = app_with_hook(tmp_path, SECRET, asked)
    headers = github(push())
    tampered = push("refs/heads/main").replace(b"0000", b"1111")
    assert client.post("/hooks/git", content=tampered, headers=headers).status_code == 401
    other_secret = github(push(), secret="not-the-secret")
    assert client.post("/hooks/git", content=push(), headers=other_secret).status_code == 401
    assert asked == []


def test_other_refs_pings_and_junk(tmp_path: Path) -> None:
    asked: list[str] = []
    client = app_with_hook(tmp_path, SECRET, asked, token=None)
    body = push("refs/heads/feature")
    ignored = client.post("/hooks/git", content=body, headers=github(body))
    assert ignored.status_code == 202 and "refs/heads/feature" in ignored.json()["ignored"]
    ping = b'{"zen": "hi"}'
    assert client.post("/hooks/git", content=ping,
                       headers={**github(ping), "X-GitHub-Event": "ping"}).json() == {"pong": True}
    junk = b"not json"
    assert client.post("/hooks/git", content=junk, headers=github(junk)).status_code == 400
    assert asked == []


def test_no_secret_configured_means_webhooks_are_off(tmp_path: Path) -> None:
    asked: list[str] = []
    client = app_with_hook(tmp_path, None, asked)
    body = push()
    response = client.post("/hooks/git", content=body, headers=github(body, "anything"))
    assert response.status_code == 503 and "CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET" in response.text
    assert asked == []
