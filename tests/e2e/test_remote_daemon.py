"""``reconcile --repo``: the real daemon following a git server over HTTP, pushed to, webhooked.

Every wait polls with a deadline; nothing sleeps to make an assertion true.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import tests.reconcile.daemon_repos as dr
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import open_database
from tests.e2e.test_daemon import Daemon, campaign, described, wait_for
from tests.reconcile.git_http import GitHttpServer

SECRET = "webhook-secret"
TOKEN = "s3cret-token"


class Origin:
    def __init__(self, tmp: Path) -> None:
        self.bare = tmp / "server" / "campaigns.git"
        self.bare.parent.mkdir(parents=True)
        self.work = dr.write_repo(tmp / "work", {"acme": 2, "globex": 1})
        dr.git_init(self.work)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)],
                       check=True)
        dr.git(self.work, "remote", "add", "origin", str(self.bare))
        dr.git(self.work, "push", "-q", "origin", "main")

    def commit(self, client: str, name: str, text: str, branch: str = "main") -> str:
        (self.work / "campaigns" / client / f"{name}.yaml").write_text(
            dr.campaign_text(client, name, description=text))
        dr.git(self.work, "commit", "-q", "-am", f"{name}: {text}")
        dr.git(self.work, "push", "-q", "--force", "origin", f"HEAD:{branch}")
        return dr.git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[Origin, GitHttpServer, Path]]:
    origin = Origin(tmp_path)
    server = GitHttpServer(origin.bare.parent, user="ci", password=TOKEN).start()
    monkeypatch.setenv("CAMPAIGN_GITOPS_GIT_TOKEN", TOKEN)
    monkeypatch.setenv("CAMPAIGN_GITOPS_GIT_USERNAME", "ci")
    monkeypatch.setenv("CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("CAMPAIGN_GITOPS_UI_TOKEN", raising=False)
    home = tmp_path / "daemon"  # the operator's folder: no checkout, only the cache
    home.mkdir()
    try:
        yield origin, server, home
    finally:
        server.stop()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.kill()


def start(home: Path, url: str, repo: str, daemons: list[Daemon]) -> tuple[Daemon, int]:
    d = Daemon(home, url, "--repo", repo, "--ref", "main", "--fetch-interval", "3600",
               "--ui-port", "0")
    daemons.append(d)
    ui = wait_for("the UI", lambda: d.event("ui"))
    return d, int(ui["port"])


def hook(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/git", data=body,
                                     method="POST", headers={"Content-Type": "application/json",
                                                             **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def ui_get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def signed_push(port: int, ref: str = "refs/heads/main", secret: str = SECRET) -> int:
    body = json.dumps({"ref": ref}).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hook(port, body, {"X-Hub-Signature-256": sig, "X-GitHub-Event": "push"})[0]


def commits_of(url: str, resource: str) -> list[str | None]:
    db = open_database(url)
    try:
        with db.session() as s:
            return list(s.scalars(select(t.ApplyLog.git_commit).where(
                t.ApplyLog.resource == resource, t.ApplyLog.action == "update")
                .order_by(t.ApplyLog.serial)).all())
    finally:
        db.dispose()


def test_follows_an_http_repo_through_webhooks_force_pushes_and_an_outage(
        served: tuple[Origin, GitHttpServer, Path], sqlite_url: str,
        daemons: list[Daemon]) -> None:
    origin, server, home = served
    d, port = start(home, sqlite_url, server.url("campaigns.git"), daemons)
    ready = wait_for("ready", lambda: (r := d.ready())["http"] == 200 and r)
    assert ready["fetch"]["ok"] and ready["fetch"]["commit"] == dr.git(origin.bare, "rev-parse",
                                                                       "main")
    assert campaign(sqlite_url, "acme", "c0")[0] == "v1"
    assert list((home / ".campaign-gitops" / "repos").glob("campaigns-*.git"))

    pushed = origin.commit("acme", "c0", "v2")
    assert hook(port, b'{"ref": "refs/heads/main"}', {})[0] == 401
    assert signed_push(port, secret="wrong") == 401
    assert hook(port, b'{"ref": "refs/heads/main"}', {"X-Gitlab-Token": "wrong"})[0] == 401
    assert signed_push(port, ref="refs/heads/other") == 202
    assert d.count("fetch-requested") == 0  # none of those fetched
    assert campaign(sqlite_url, "acme", "c0")[0] == "v1"

    assert signed_push(port) == 202
    wait_for("the pushed commit in the database", described(sqlite_url, "acme", "c0", "v2"))
    assert commits_of(sqlite_url, "acme/Campaign/c0") == [pushed]
    # The UI's plan reads a checkout of the followed commit: converged, nothing to do.
    plan = wait_for("the UI's plan of the pushed commit", lambda: (
        p := ui_get(port, "/api/v1/plan")).get("plan") and p["plan"]["summary"]["update"] == 0
        and p)
    assert plan["error"] in ("", None)

    dr.git(origin.work, "reset", "-q", "--hard", "HEAD~1")
    forced = origin.commit("acme", "c0", "forced")
    assert hook(port, b'{"ref": "refs/heads/main"}', {"X-Gitlab-Token": SECRET})[0] == 202
    wait_for("the force-push applied", described(sqlite_url, "acme", "c0", "forced"))
    assert commits_of(sqlite_url, "acme/Campaign/c0")[-1] == forced

    server.stop()  # the git server goes away
    assert signed_push(port) == 202
    down = wait_for("/readyz to report the failed fetch",
                    lambda: (r := d.ready())["http"] == 503 and r)
    assert down["fetch"]["ok"] is False and down["fetch"]["commit"] == forced
    assert down["fetch"]["error"] and TOKEN not in json.dumps(down)
    status, metrics = d.get("/metrics")
    assert status == 200
    assert 'campaign_gitops_fetches_total{result="failed"}' in metrics
    assert campaign(sqlite_url, "acme", "c0")[0] == "forced"  # the last good commit stays

    later = origin.commit("globex", "c0", "after-outage")
    server.start()  # back on the same port
    assert signed_push(port) == 202
    wait_for("the commit pushed during the outage", described(sqlite_url, "globex", "c0",
                                                              "after-outage"), timeout=20)
    wait_for("ready again", lambda: d.ready()["http"] == 200)
    assert commits_of(sqlite_url, "globex/Campaign/c0") == [later]
    assert d.stop() == 0
    assert all(TOKEN not in line for line in d.lines)


def test_two_replicas_on_postgres_fetch_and_one_applies(
        served: tuple[Origin, GitHttpServer, Path], pg_url: str,
        daemons: list[Daemon]) -> None:
    origin, server, home = served
    url = server.url("campaigns.git")
    a, _ = start(home, pg_url, url, daemons)
    wait_for("a leader", lambda: a.ready().get("role") == "leader")
    other = home.parent / "replica-b"  # a second machine: a cache folder of its own
    other.mkdir()
    b, port_b = start(other, pg_url, url, daemons)
    wait_for("a follower", lambda: b.ready().get("role") == "follower")

    wait_for("both listening for the other's webhooks",
             lambda: a.event("fetch-wake-listening") and b.event("fetch-wake-listening"))
    pushed = origin.commit("acme", "c1", "both-fetch")
    # The load balancer hands the webhook to the follower: the leader is woken through
    # PostgreSQL (its interval is an hour) and applies.
    assert signed_push(port_b) == 202
    wait_for("the leader applied", described(pg_url, "acme", "c1", "both-fetch"))
    assert "another replica" in (a.event("fetch-requested") or {}).get("msg", "")
    wait_for("the follower fetched too",
             lambda: (b.ready().get("fetch") or {}).get("commit") == pushed)
    assert commits_of(pg_url, "acme/Campaign/c1") == [pushed]  # applied once
    assert b.count("applied") == 0
    assert a.stop() == 0 and b.stop() == 0


def test_notifications_from_the_followed_repositorys_config(
        tmp_path: Path, sqlite_url: str, daemons: list[Daemon],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.notify.test_notify import Receiver

    receiver = Receiver()
    try:
        origin = Origin(tmp_path)
        (origin.work / "campaign-gitops.yaml").write_text(
            "notifications:\n"
            "  - name: ops\n"
            "    urlEnv: OPS_HOOK\n"
            "    events: [file-failing, recovered]\n")
        dr.git(origin.work, "add", "campaign-gitops.yaml")
        dr.git(origin.work, "commit", "-qm", "notifications")
        dr.git(origin.work, "push", "-q", "origin", "main")
        monkeypatch.setenv("OPS_HOOK", receiver.url)
        monkeypatch.setenv("CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET", SECRET)
        monkeypatch.delenv("CAMPAIGN_GITOPS_UI_TOKEN", raising=False)
        home = tmp_path / "daemon"
        home.mkdir()
        d, port = start(home, sqlite_url, origin.bare.as_uri(), daemons)
        wait_for("ready", lambda: d.ready()["http"] == 200)

        broken = origin.work / "campaigns/acme/c1.yaml"
        broken.write_text(dr.campaign_text("acme", "c1", description="x") + "  bogus: [\n")
        dr.git(origin.work, "commit", "-qam", "broken")
        dr.git(origin.work, "push", "-q", "origin", "main")
        assert signed_push(port) == 202
        wait_for("the notice", lambda: receiver.posts, timeout=20)
        origin.commit("globex", "c0", "another-push")  # the file still fails: no new notice
        assert signed_push(port) == 202
        wait_for("the second pass", lambda: described(sqlite_url, "globex", "c0",
                                                      "another-push")())
        origin.commit("acme", "c1", "fixed")
        assert signed_push(port) == 202
        wait_for("recovered", lambda: len(receiver.posts) >= 2, timeout=20)
        wait_for("both logged", lambda: d.count("notified") == 2)
        assert d.stop() == 0
        assert receiver.titles() == [
            "campaign-gitops: file-failing: campaigns/acme/c1.yaml",
            "campaign-gitops: recovered: file-failing campaigns/acme/c1.yaml"]
    finally:
        receiver.close()


@pytest.mark.parametrize(("repo", "expected"), [
    ("file:///no/such/repo.git", "could not fetch main of file:///no/such/repo.git"),
    ("https://ci:ghp_leaked@git.example.com/acme/campaigns.git", "must not hold a password"),
])
def test_a_repo_that_cannot_be_followed_is_a_clear_error(tmp_path: Path, sqlite_url: str,
                                                         repo: str, expected: str) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "campaign-gitops"), "--db",
                           sqlite_url, "reconcile", "--repo", repo, "--once"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and expected in done.stderr
    assert "Traceback" not in done.stderr and "ghp_leaked" not in done.stderr
