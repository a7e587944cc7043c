"""Following a remote repository: a bare clone over file:// and over HTTP with basic auth."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.reconcile.daemon_repos as dr
from campaign_gitops.config.project import Project
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.backoff import Backoff
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.health import Health, Metrics
from campaign_gitops.reconcile.remote import (
    TOKEN_ENV,
    Follower,
    RemoteRepo,
    check_url,
    ref_matches,
    repo_dir,
)
from tests.reconcile.git_http import GitHttpServer


class Origin:
    """A bare "server" repository and a working clone that pushes to it."""

    def __init__(self, tmp: Path) -> None:
        self.bare = tmp / "server" / "campaigns.git"
        self.bare.parent.mkdir(parents=True)
        self.work = dr.write_repo(tmp / "work", {"acme": 2})
        dr.git_init(self.work)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)],
                       check=True)
        dr.git(self.work, "remote", "add", "origin", str(self.bare))
        dr.git(self.work, "push", "-q", "origin", "main")

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, client: str, name: str, text: str, *, branch: str = "main") -> str:
        (self.work / "campaigns" / client / f"{name}.yaml").write_text(
            dr.campaign_text(client, name, description=text))
        dr.git(self.work, "add", ".")
        dr.git(self.work, "commit", "-q", "-m", f"{name}: {text}")
        dr.git(self.work, "push", "-q", "--force", "origin", f"HEAD:{branch}")
        return dr.git(self.work, "rev-parse", "HEAD")

    def head(self) -> str:
        return dr.git(self.bare, "rev-parse", "main")


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


def test_urls_with_a_secret_are_refused_and_clones_get_a_stable_folder(tmp_path: Path) -> None:
    with pytest.raises(CampaignGitopsError, match="must not hold a password") as err:
        check_url("https://user:ghp_secret@github.com/acme/campaigns.git")
    assert "ghp_secret" not in str(err.value) and TOKEN_ENV in err.value.hint
    with pytest.raises(CampaignGitopsError, match="not a URL git can fetch"):
        check_url("ftp://example.com/repo")
    assert check_url("git@github.com:acme/campaigns.git") == "git@github.com:acme/campaigns.git"
    assert check_url("https://x-access-token@github.com/a/b.git")  # a user, no password
    one = repo_dir(tmp_path, "https://github.com/acme/campaigns.git")
    assert one.name.startswith("campaigns-") and one.suffix == ".git"
    assert one == repo_dir(tmp_path, "https://github.com/acme/campaigns.git")
    assert one != repo_dir(tmp_path, "https://github.com/other/campaigns.git")


def test_ref_matching() -> None:
    assert ref_matches("main", "refs/heads/main")
    assert ref_matches("v1", "refs/tags/v1")
    assert ref_matches("refs/heads/main", "refs/heads/main")
    assert not ref_matches("main", "refs/heads/feature")


def test_clone_fetch_and_force_push_over_file_urls(origin: Origin, tmp_path: Path) -> None:
    repo = RemoteRepo(origin.url, "main", tmp_path / "cache")
    assert repo.commit() is None
    first = repo.fetch()
    assert first.ok and first.moved and first.commit == origin.head()
    assert (repo.path / "HEAD").exists() and not (repo.path / "campaigns").exists()  # bare

    source = repo.source(Project(root=tmp_path / "somewhere", resources_dir=tmp_path /
                                 "somewhere" / "campaigns"))
    read = source.read()
    assert read.commit == first.commit
    assert sorted(read.files) == ["campaigns/acme/c0.yaml", "campaigns/acme/c1.yaml",
                                  "campaigns/acme/client.yaml"]

    assert not repo.fetch().moved  # nothing new
    second = origin.commit("acme", "c0", "v2")
    fetched = repo.fetch()
    assert fetched.moved and fetched.commit == second and fetched.previous == first.commit
    moved = source.read()
    assert moved.changed == {"campaigns/acme/c0.yaml"}

    # A force-push that rewrites history: the followed ref jumps to the new commit.
    dr.git(origin.work, "reset", "-q", "--hard", first.commit)
    rewritten = origin.commit("acme", "c1", "rewritten")
    assert repo.fetch().commit == rewritten
    after = source.read()
    assert after.changed == {"campaigns/acme/c0.yaml", "campaigns/acme/c1.yaml"}
    c1 = after.files["campaigns/acme/c1.yaml"].documents[0].data["spec"]["description"]
    assert c1 == "rewritten"


def test_a_missing_ref_or_server_keeps_the_last_good_commit(origin: Origin,
                                                            tmp_path: Path) -> None:
    missing = RemoteRepo(origin.url, "no-such-branch", tmp_path / "cache")
    result = missing.fetch()
    assert not result.ok and result.commit is None and "no-such-branch" in result.error

    repo = RemoteRepo(origin.url, "main", tmp_path / "cache")
    good = repo.fetch().commit
    moved = origin.bare.with_name("moved.git")
    origin.bare.rename(moved)  # the server is gone
    failed = repo.fetch()
    assert not failed.ok and failed.commit == good and failed.error
    moved.rename(origin.bare)
    assert repo.fetch().ok


@pytest.fixture
def http_origin(origin: Origin) -> Iterator[tuple[Origin, GitHttpServer]]:
    server = GitHttpServer(origin.bare.parent, user="ci", password="s3cret-token").start()
    try:
        yield origin, server
    finally:
        server.stop()


def test_https_token_comes_from_the_environment_only(http_origin: tuple[Origin, GitHttpServer],
                                                     tmp_path: Path) -> None:
    origin, server = http_origin
    url = server.url("campaigns.git")
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    anonymous = RemoteRepo(url, "main", tmp_path / "a", env=base).fetch()
    assert not anonymous.ok and anonymous.commit is None

    wrong = RemoteRepo(url, "main", tmp_path / "b",
                       env={**base, TOKEN_ENV: "not-it", "CAMPAIGN_GITOPS_GIT_USERNAME": "ci"})
    failed = wrong.fetch()
    assert not failed.ok and "not-it" not in failed.error

    env = {**base, TOKEN_ENV: "s3cret-token", "CAMPAIGN_GITOPS_GIT_USERNAME": "ci"}
    repo = RemoteRepo(url, "main", tmp_path / "c", env=env)
    fetched = repo.fetch()
    assert fetched.ok and fetched.commit == origin.head() and server.requests > 2
    config = (repo.path / "config").read_text()
    assert "s3cret" not in config and url in config  # never stored with the clone
    assert "s3cret" not in (tmp_path / "c" / "askpass.sh").read_text()


def test_follower_fetches_on_interval_and_on_trigger_and_survives_an_outage(
        http_origin: tuple[Origin, GitHttpServer], tmp_path: Path) -> None:
    origin, server = http_origin
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), TOKEN_ENV: "s3cret-token",
           "CAMPAIGN_GITOPS_GIT_USERNAME": "ci"}
    repo = RemoteRepo(server.url("campaigns.git"), "main", tmp_path / "cache", env=env)
    moved: list[str] = []
    health, metrics = Health(), Metrics()
    log = EventLog(stream=open(tmp_path / "log.txt", "w"))  # noqa: SIM115 - closed below
    follower = Follower(repo, interval=3600.0, on_moved=moved.append, health=health,
                        metrics=metrics, log=log, backoff=Backoff((0.05, 0.1)))
    first = follower.fetch_once(time.monotonic(), time.time())
    assert first.ok and moved == [first.commit]
    follower.start()
    try:
        pushed = origin.commit("acme", "c0", "webhook")
        follower.trigger("test")  # the interval is an hour: only the trigger fetches
        wait_for(lambda: moved[-1] == pushed)

        server.stop()
        follower.trigger("test")
        wait_for(lambda: health.fetch is not None and not health.fetch["ok"])
        ok, body = health.ready()
        assert not ok and body["fetch"]["commit"] == pushed  # the last good commit
        assert health.fetch["attempts"] >= 1 and health.fetch["error"]
        later = origin.commit("acme", "c1", "while-down")
        server.start()  # back on the same port: the backoff's retry finds it
        wait_for(lambda: moved[-1] == later)
        assert health.fetch["ok"] and health.fetch["commit"] == later
        text = metrics.render().decode()
        assert 'campaign_gitops_fetches_total{result="failed"}' in text
        assert "campaign_gitops_fetch_failures 0.0" in text
    finally:
        follower.close()
        log.stream.close()
    assert "s3cret-token" not in (tmp_path / "log.txt").read_text()


def test_interval_fetches_without_a_trigger(origin: Origin, tmp_path: Path) -> None:
    repo = RemoteRepo(origin.url, "main", tmp_path / "cache")
    moved: list[str] = []
    done = threading.Event()
    follower = Follower(repo, interval=0.05, log=EventLog(stream=open("/dev/null", "w")),  # noqa: SIM115
                        on_moved=lambda c: (moved.append(c), done.set()))
    follower.start()
    try:
        wait_for(lambda: moved)
        pushed = origin.commit("acme", "c0", "polled")
        wait_for(lambda: moved[-1] == pushed)
    finally:
        follower.close()
        follower.log.stream.close()


def wait_for(check: object, timeout: float = 20.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_webhook_on_one_replica_wakes_the_others_through_postgres(pg_url: str) -> None:
    from campaign_gitops.reconcile.fetch_wake import PgWake

    heard_a: list[str] = []
    heard_b: list[str] = []
    quiet = EventLog(stream=open("/dev/null", "w"))  # noqa: SIM115
    a = PgWake(pg_url, heard_a.append, log=quiet).start()
    b = PgWake(pg_url, heard_b.append, log=quiet).start()
    try:
        wait_for(lambda: a.listening.is_set() and b.listening.is_set())
        a.notify("github push to refs/heads/main")
        wait_for(lambda: heard_b)
        assert heard_b == ["another replica: github push to refs/heads/main"]
        b.notify("gitlab push")
        wait_for(lambda: heard_a)
        assert heard_a == ["another replica: gitlab push"]  # nobody hears itself
        assert heard_b == ["another replica: github push to refs/heads/main"]
    finally:
        a.close()
        b.close()
        quiet.stream.close()


def test_ssh_urls_go_through_git_ssh_command(origin: Origin, tmp_path: Path) -> None:
    """GIT_SSH_COMMAND from the environment is what git runs for ssh:// (here a stand-in
    for ssh that runs the requested git-upload-pack locally, as sshd would remotely)."""
    calls = tmp_path / "ssh-calls.txt"
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text("#!/bin/sh\n"
                        f"echo \"$@\" >> {calls}\n"
                        "for last; do :; done\n"
                        "exec sh -c \"$last\"\n")
    fake_ssh.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_SSH_COMMAND": str(fake_ssh)}
    repo = RemoteRepo(f"ssh://git@git.example.com{origin.bare}", "main", tmp_path / "cache",
                      env=env)
    fetched = repo.fetch()
    assert fetched.ok and fetched.commit == origin.head()
    assert "git@git.example.com" in calls.read_text()
    assert "git-upload-pack" in calls.read_text()


def test_a_plain_checkout_for_the_web_view_follows_moves(origin: Origin, tmp_path: Path) -> None:
    repo = RemoteRepo(origin.url, "main", tmp_path / "cache")
    first = repo.fetch().commit
    assert first is not None
    tree = repo.checkout(first)
    assert (tree / "campaigns/acme/c0.yaml").read_text() == dr.campaign_text("acme", "c0")
    dr.git(origin.work, "rm", "-q", "campaigns/acme/c1.yaml")
    dr.git(origin.work, "commit", "-qm", "rm c1")
    second = origin.commit("acme", "c0", "moved")
    assert repo.fetch().commit == second
    assert repo.checkout(second) == tree
    assert "moved" in (tree / "campaigns/acme/c0.yaml").read_text()
    assert not (tree / "campaigns/acme/c1.yaml").exists()
    assert dr.git(tree, "rev-parse", "HEAD") == second
