"""One pull-request comment kept up to date: lint summary, plan (with its forecasts).

    pr = pull_request_from_env(os.environ)          # None outside a pull request
    outcome = publish(pr, compose(sections), env=os.environ)

The comment carries a hidden marker (``<!-- campaign-gitops:pr-comment -->``); the next
run of the action finds it among the pull request's comments and edits it instead of
adding another. The REST API is GitHub's at ``GITHUB_API_URL`` (GitHub Enterprise and
the tests' fake server alike), authenticated with ``GITHUB_TOKEN``:

- ``GET  /repos/{owner}/{repo}/issues/{number}/comments`` (paged, 100 a page)
- ``POST /repos/{owner}/{repo}/issues/{number}/comments``
- ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``

A pull request from a fork gets no token, or a read-only one (403): the comment goes
to the job summary (``GITHUB_STEP_SUMMARY``) instead, and the step still succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from campaign_gitops.findings import CampaignGitopsError

MARKER = "<!-- campaign-gitops:pr-comment -->"
MAX_BODY = 65_000  # GitHub refuses comments over 65,536 characters
DEFAULT_API = "https://api.github.com"


@dataclass(frozen=True, slots=True)
class PullRequest:
    api_url: str
    repository: str  # owner/name
    number: int
    token: str | None

    @property
    def comments_url(self) -> str:
        return f"{self.api_url}/repos/{self.repository}/issues/{self.number}/comments"

    def comment_url(self, comment_id: int) -> str:
        return f"{self.api_url}/repos/{self.repository}/issues/comments/{comment_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    action: str  # created, updated, unchanged, summary (fallback), skipped
    url: str = ""
    reason: str = ""


def pull_request_from_env(env: Mapping[str, str]) -> PullRequest | None:
    """The pull request of this workflow run (from ``GITHUB_EVENT_PATH``), else None."""
    event_path = env.get("GITHUB_EVENT_PATH")
    repository = env.get("GITHUB_REPOSITORY")
    if not event_path or not repository:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CampaignGitopsError(f"cannot read the event payload {event_path}: {exc}",
                                  "run this inside a GitHub Actions job") from exc
    pull = event.get("pull_request") if isinstance(event, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    if not isinstance(number, int):
        return None
    api = (env.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    return PullRequest(api, repository, number, env.get("GITHUB_TOKEN") or None)


def compose(sections: Iterable[str], *, marker: str = MARKER,
            title: str = "## campaign-gitops") -> str:
    """The comment's markdown: marker, title, the non-empty sections; cut to fit."""
    parts = [s.strip() for s in sections if s and s.strip()]
    body = "\n\n".join([marker, title, *(parts or ["Nothing to report."])]) + "\n"
    if len(body) > MAX_BODY:
        note = "\n\n… cut to fit a comment; the job summary has everything.\n"
        body = body[:MAX_BODY - len(note)] + note
    return body


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "campaign-gitops"}


def find_comment(client: httpx.Client, pr: PullRequest, marker: str = MARKER
                 ) -> dict[str, Any] | None:
    """The pull request's comment carrying ``marker`` (the oldest one), else None."""
    page = 1
    while True:
        response = client.get(pr.comments_url, params={"per_page": 100, "page": page})
        response.raise_for_status()
        comments = response.json()
        for comment in comments:
            if marker in str(comment.get("body") or ""):
                return dict(comment)
        if len(comments) < 100:
            return None
        page += 1


def upsert(client: httpx.Client, pr: PullRequest, body: str, marker: str = MARKER) -> Outcome:
    """Create the comment, or edit the one with the marker (unless it already says it)."""
    existing = find_comment(client, pr, marker)
    if existing is None:
        response = client.post(pr.comments_url, json={"body": body})
        response.raise_for_status()
        return Outcome("created", str(response.json().get("html_url", "")))
    if existing.get("body") == body:
        return Outcome("unchanged", str(existing.get("html_url", "")))
    response = client.patch(pr.comment_url(int(existing["id"])), json={"body": body})
    response.raise_for_status()
    return Outcome("updated", str(response.json().get("html_url", "")))


def _to_summary(env: Mapping[str, str], body: str, reason: str) -> Outcome:
    path = env.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(body)
        return Outcome("summary", reason=reason)
    return Outcome("skipped", reason=f"{reason}; no GITHUB_STEP_SUMMARY either")


def publish(pr: PullRequest | None, body: str, *, env: Mapping[str, str],
            client: httpx.Client | None = None, marker: str = MARKER) -> Outcome:
    """Comment on ``pr``; the job summary when that cannot be done (forks)."""
    if pr is None:
        return Outcome("skipped", reason="not a pull request")
    if not pr.token:
        return _to_summary(env, body, "no GITHUB_TOKEN (a pull request from a fork?)")
    own = client is None
    http = client or httpx.Client(timeout=30.0)
    http.headers.update(_headers(pr.token))
    try:
        return upsert(http, pr, body, marker)
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status in (401, 403, 404):  # a fork's read-only token, or no access
            return _to_summary(env, body, f"the API refused the comment (HTTP {status})")
        raise CampaignGitopsError(f"GitHub API error HTTP {status} at {exc.request.url}",
                                  "retry the job; check GITHUB_API_URL") from exc
    except httpx.HTTPError as exc:
        raise CampaignGitopsError(f"cannot reach the GitHub API at {pr.api_url}: {exc}",
                                  "check GITHUB_API_URL and the runner's network") from exc
    finally:
        if own:
            http.close()
