"""``campaign-gitops pr-comment`` against a local fake of GitHub's issue-comment endpoints."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from campaign_gitops.pr_comment import MARKER, MAX_BODY, compose

CLI = str(Path(sys.executable).parent / "campaign-gitops")
TOKEN = "ghs_test_token"


class FakeGitHub:
    """List (paged), create and update issue comments of owner/repo; checks the token."""

    def __init__(self, *, read_only: bool = False) -> None:
        self.comments: dict[int, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.read_only = read_only
        self.next_id = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {TOKEN}"

            def _body(self) -> dict[str, Any]:
                return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.calls.append(f"GET {url.path}")
                if not self._authorized():
                    return self._reply(401, {"message": "Bad credentials"})
                m = re.fullmatch(r"/api/v3/repos/acme/campaigns/issues/(\d+)/comments", url.path)
                if not m:
                    return self._reply(404, {"message": "Not Found"})
                query = parse_qs(url.query)
                per_page, page = int(query["per_page"][0]), int(query.get("page", ["1"])[0])
                mine = [c for c in fake.comments.values() if c["issue"] == int(m.group(1))]
                return self._reply(200, mine[(page - 1) * per_page:page * per_page])

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                fake.calls.append(f"POST {url.path}")
                if fake.read_only:
                    return self._reply(403, {"message": "Resource not accessible by integration"})
                m = re.fullmatch(r"/api/v3/repos/acme/campaigns/issues/(\d+)/comments", url.path)
                if not m or not self._authorized():
                    return self._reply(404, {"message": "Not Found"})
                return self._reply(201, fake.add(int(m.group(1)), self._body()["body"]))

            def do_PATCH(self) -> None:
                url = urlsplit(self.path)
                fake.calls.append(f"PATCH {url.path}")
                m = re.fullmatch(r"/api/v3/repos/acme/campaigns/issues/comments/(\d+)", url.path)
                if not m or not self._authorized() or int(m.group(1)) not in fake.comments:
                    return self._reply(404, {"message": "Not Found"})
                comment = fake.comments[int(m.group(1))]
                comment["body"] = self._body()["body"]
                return self._reply(200, comment)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, issue: int, body: str) -> dict[str, Any]:
        self.next_id += 1
        comment = {"id": self.next_id, "issue": issue, "body": body,
                   "html_url": f"https://github.example/acme/campaigns/pull/{issue}"
                               f"#issuecomment-{self.next_id}"}
        self.comments[self.next_id] = comment
        return comment

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def run(tmp_path: Path, api: str, sections: dict[str, str], *, token: str | None = TOKEN,
        number: int | None = 7) -> subprocess.CompletedProcess[str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number}} if number else
                                {"ref": "refs/heads/main"}))
    args = []
    for name, text in sections.items():
        (tmp_path / name).write_text(text)
        args += ["--section", str(tmp_path / name)]
    env = {"PATH": "/usr/bin:/bin", "GITHUB_EVENT_PATH": str(event), "GITHUB_API_URL": api,
           "GITHUB_REPOSITORY": "acme/campaigns", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run([CLI, "pr-comment", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_one_comment_created_then_updated_then_left_alone(tmp_path: Path,
                                                          github: FakeGitHub) -> None:
    for i in range(150):  # others' comments: the marker is on the second page
        github.add(7, f"LGTM {i}")
    github.add(8, f"{MARKER} another pull request's comment")
    first = run(tmp_path, github.api, {"lint.md": "### campaign-gitops lint\n0 errors",
                                       "plan.md": "### campaign-gitops plan\n+ create acme/c0"})
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("pr-comment: created https://github.example/")
    ours = [c for c in github.comments.values() if MARKER in c["body"] and c["issue"] == 7]
    assert len(ours) == 1 and "+ create acme/c0" in ours[0]["body"]
    assert ours[0]["body"].index("campaign-gitops lint") < ours[0]["body"].index("plan")

    github.add(7, "a later review comment")
    second = run(tmp_path, github.api, {"lint.md": "### campaign-gitops lint\n1 error",
                                        "plan.md": "### campaign-gitops plan\n~ update acme/c0"})
    assert second.stdout.startswith("pr-comment: updated"), second.stderr
    ours = [c for c in github.comments.values() if MARKER in c["body"] and c["issue"] == 7]
    assert len(ours) == 1 and "~ update acme/c0" in ours[0]["body"]
    assert "+ create" not in ours[0]["body"]
    assert [c for c in github.calls if c.startswith("PATCH")] == [
        f"PATCH /api/v3/repos/acme/campaigns/issues/comments/{ours[0]['id']}"]

    calls = len(github.calls)
    third = run(tmp_path, github.api, {"lint.md": "### campaign-gitops lint\n1 error",
                                       "plan.md": "### campaign-gitops plan\n~ update acme/c0"})
    assert third.stdout.startswith("pr-comment: unchanged")
    assert all(c.startswith("GET") for c in github.calls[calls:])
    assert not (tmp_path / "s.md").exists()  # the comment worked: no fallback


def test_a_fork_without_token_or_with_a_read_only_one_writes_the_job_summary(
        tmp_path: Path) -> None:
    fake = FakeGitHub(read_only=True)
    try:
        no_token = run(tmp_path, fake.api, {"plan.md": "the plan"}, token=None)
        assert no_token.returncode == 0 and "summary" in no_token.stdout
        assert fake.calls == []
        refused = run(tmp_path, fake.api, {"plan.md": "the plan"})
        assert refused.returncode == 0 and "HTTP 403" in refused.stdout
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    summary = (tmp_path / "s.md").read_text()
    assert summary.count("the plan") == 2 and TOKEN not in summary


def test_outside_a_pull_request_nothing_happens(tmp_path: Path, github: FakeGitHub) -> None:
    result = run(tmp_path, github.api, {"plan.md": "x"}, number=None)
    assert result.returncode == 0 and "not a pull request" in result.stdout
    assert github.calls == []


def test_an_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "http://127.0.0.1:9/api/v3", {"plan.md": "x"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot reach the GitHub API" in result.stderr


def test_compose_keeps_the_marker_and_fits_a_comment() -> None:
    body = compose(["", "a" * 100_000])
    assert body.startswith(MARKER) and len(body) <= MAX_BODY and "cut to fit" in body
    assert "Nothing to report." in compose([" "])
