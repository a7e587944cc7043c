"""Follow a remote repository: a bare clone, fetched on an interval and on a push webhook.

    repo = RemoteRepo("https://git.example.com/team/campaigns.git", "main",
                      project.root / ".campaign-gitops" / "repos")
    repo.fetch()                          # clones on the first call
    source = repo.source(project)         # the EXISTING GitSource, over the clone
    follower = Follower(repo, interval=60.0, on_moved=..., ...)   # the fetch thread

The clone is bare (``git init --bare`` + ``git fetch``): nothing is ever checked out, so
a reconcile reads the tree of one fetched commit (``GitSource``) and never a half-written
worktree. Each fetch force-updates one private ref, ``refs/campaign-gitops/followed``,
from the remote's ``--ref``: a force-push is followed like any other move.

Credentials never come from flags, the URL or the logs:

- https: ``CAMPAIGN_GITOPS_GIT_TOKEN`` (and ``CAMPAIGN_GITOPS_GIT_USERNAME``, default
  ``x-access-token``) are answered to git through ``GIT_ASKPASS`` (a script under the
  cache folder that prints the variables; the token stays in the environment of the git
  process). Without the token, git's own credential helpers apply.
- ssh: ``GIT_SSH_COMMAND`` from the environment (e.g. ``ssh -i /secrets/key``).
- file URLs (tests, a mirror on a shared disk).

A URL with a password in it is refused. A failed fetch keeps the last good commit; the
``Follower`` retries with ``Backoff`` and reports in ``/readyz``, ``/metrics`` and the
event log (``fetch-failed`` / ``fetched``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from campaign_gitops.config.discovery import relative_name
from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.backoff import DEFAULT_DELAYS, Backoff
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.health import Health, Metrics
from campaign_gitops.reconcile.sources import GitSource

TOKEN_ENV = "CAMPAIGN_GITOPS_GIT_TOKEN"
USERNAME_ENV = "CAMPAIGN_GITOPS_GIT_USERNAME"
FOLLOWED = "refs/campaign-gitops/followed"
FETCH_TIMEOUT = 300.0  # seconds one fetch may take before it counts as failed
_ASKPASS = """#!/bin/sh
# Written by campaign-gitops: answers git's prompts from the environment (never a file).
case "$1" in
  Username*) printf '%s\\n' "${CAMPAIGN_GITOPS_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "${CAMPAIGN_GITOPS_GIT_TOKEN}" ;;
esac
"""
_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?[\w.-]+:(?!//)")


class RemoteError(CampaignGitopsError):
    """A clone or fetch failed (the message never holds a credential)."""


def check_url(url: str) -> str:
    """``url`` when git can follow it without a secret in it; else a clear error."""
    text = url.strip()
    if not text:
        raise CampaignGitopsError("--repo is empty", "pass the repository's https, ssh or "
                                  "file URL")
    if _SCP_LIKE.match(text) and "://" not in text:
        return text  # git@host:org/repo.git (ssh)
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http", "ssh", "git", "file"):
        raise CampaignGitopsError(
            f"--repo {text!r} is not a URL git can fetch from",
            "use https://..., ssh://..., git@host:org/repo.git or file:///path")
    if parts.password is not None:
        raise CampaignGitopsError(
            "--repo must not hold a password or token",
            f"remove it from the URL and set {TOKEN_ENV} in the environment instead")
    return text


def repo_dir(cache_root: Path, url: str) -> Path:
    """The clone's folder: a readable name from the URL plus a hash of the whole URL."""
    tail = re.sub(r"\.git$", "", url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "repo"
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return cache_root / f"{slug}-{digest}.git"


@dataclass(frozen=True, slots=True)
class FetchResult:
    ok: bool
    commit: str | None  # the followed commit after the fetch (the last good one on failure)
    previous: str | None
    error: str = ""
    seconds: float = 0.0

    @property
    def moved(self) -> bool:
        return self.ok and self.commit != self.previous


@dataclass
class RemoteRepo:
    """A bare clone of ``url`` under ``cache_root`` that follows ``ref``."""

    url: str
    ref: str
    cache_root: Path
    env: Mapping[str, str] | None = None  # None: the process's environment
    timeout: float = FETCH_TIMEOUT
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.url = check_url(self.url)
        self.path = repo_dir(self.cache_root, self.url)

    # -------------------------------------------------- git

    def _environ(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
            env.pop(name, None)
        env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a person at a prompt
        if env.get(TOKEN_ENV):
            env["GIT_ASKPASS"] = str(self._askpass())
            env.pop("SSH_ASKPASS", None)
        return env

    def _askpass(self) -> Path:
        script = self.cache_root / "askpass.sh"
        if not script.exists() or script.read_text() != _ASKPASS:
            script.parent.mkdir(parents=True, exist_ok=True)
            tmp = script.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(_ASKPASS)
            tmp.chmod(0o700)
            tmp.replace(script)
        return script

    def _scrub(self, text: str, env: Mapping[str, str]) -> str:
        token = env.get(TOKEN_ENV)
        if token:
            text = text.replace(token, "***")
        return text

    def git(self, *args: str, timeout: float | None = None) -> str:
        env = self._environ()
        cmd = ["git", "-c", "credential.interactive=never", "-c", "http.lowSpeedLimit=1000",
               "-c", "http.lowSpeedTime=30", "-C", str(self.path), *args]
        try:
            done = subprocess.run(cmd, capture_output=True, env=env, check=False,
                                  timeout=timeout or self.timeout, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise RemoteError("git is not installed", "install git (the image has it)") from exc
        except subprocess.TimeoutExpired as exc:
            raise RemoteError(f"git {args[0]} took longer than {timeout or self.timeout:.0f}s",
                              "is the server reachable?") from exc
        if done.returncode != 0:
            lines = [line.strip() for line in
                     self._scrub(done.stderr.decode(errors="replace"), env).splitlines()
                     if line.strip()]
            message = "; ".join(lines[-3:]) or f"exit status {done.returncode}"
            raise RemoteError(f"git {args[0]} failed: {message}",
                              "check the URL, the ref and the credentials in the environment "
                              f"({TOKEN_ENV}, GIT_SSH_COMMAND)")
        return done.stdout.decode(errors="replace").strip()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One fetch at a time per clone, also across processes sharing the cache folder."""
        self.cache_root.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _ensure(self) -> None:
        if (self.path / "HEAD").exists():
            return
        tmp = self.path.with_suffix(f".{os.getpid()}.init")
        subprocess.run(["git", "init", "-q", "--bare", str(tmp)], check=True,
                       capture_output=True)
        subprocess.run(["git", "-C", str(tmp), "config", "remote.origin.url", self.url],
                       check=True, capture_output=True)
        tmp.replace(self.path)

    # -------------------------------------------------- the followed commit

    def commit(self) -> str | None:
        """The last fetched commit of ``ref`` (None before the first good fetch)."""
        if not (self.path / "HEAD").exists():
            return None
        try:
            return self.git("rev-parse", "--verify", "-q", f"{FOLLOWED}^{{commit}}",
                            timeout=30) or None
        except RemoteError:
            return None

    def fetch(self) -> FetchResult:
        """Fetch ``ref`` into the followed ref (forced: a force-push is followed)."""
        started = time.perf_counter()
        with self._locked():
            self._ensure()
            previous = self.commit()
            try:
                self.git("fetch", "--quiet", "--no-tags", "--force", "--no-write-fetch-head",
                         "--", self.url, f"+{self.ref}:{FOLLOWED}")
            except RemoteError as exc:
                return FetchResult(False, previous, previous, str(exc),
                                   time.perf_counter() - started)
            commit = self.commit()
        if commit is None:
            return FetchResult(False, previous, previous, f"{self.ref} is not a commit",
                               time.perf_counter() - started)
        return FetchResult(True, commit, previous, "", time.perf_counter() - started)

    def checkout(self, commit: str) -> Path:
        """A plain checkout of ``commit`` beside the clone, for the web UI's plan and sync
        views (they read files). The reconcile never reads it: it reads the commit."""
        tree = self.path.with_suffix(".worktree")
        with self._locked():
            if not (tree / ".git").exists():
                self.git("worktree", "prune")
                self.git("worktree", "add", "--detach", "--force", str(tree), commit)
            else:
                self.git("--work-tree", str(tree), f"--git-dir={self._worktree_gitdir(tree)}",
                         "checkout", "--detach", "--force", "--quiet", commit)
        return tree

    def _worktree_gitdir(self, tree: Path) -> str:
        line = (tree / ".git").read_text().strip()  # "gitdir: <bare>/worktrees/<name>"
        return line.split(":", 1)[1].strip()

    def source(self, project: Project) -> GitSource:
        """The git source over the clone: the project's resources folder at the commit."""
        rel = relative_name(project.resources_dir, project.root)
        folder = self.path if rel in (".", "") else self.path / rel
        return GitSource(self.path, folder, FOLLOWED)

    def read_file(self, name: str) -> bytes | None:
        """One file of the followed commit (``campaign-gitops.yaml``), None when absent."""
        try:
            out = subprocess.run(["git", "-C", str(self.path), "cat-file", "blob",
                                  f"{FOLLOWED}:{name}"], capture_output=True, check=False,
                                 timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None


def remote_config(repo: RemoteRepo, fallback: ProjectConfig) -> ProjectConfig:
    """``campaign-gitops.yaml`` of the followed commit (read at start), else ``fallback``.

    An invalid file raises ``ProjectConfigError`` (its findings name the file and line).
    """
    from campaign_gitops.config.project_file import CONFIG_FILE, parse_project_file

    raw = repo.read_file(CONFIG_FILE)
    if raw is None:
        return fallback
    with tempfile.TemporaryDirectory(prefix="campaign-gitops-config-") as tmp:
        path = Path(tmp) / CONFIG_FILE
        path.write_bytes(raw)
        return parse_project_file(path, Path(tmp)).require()


def ref_matches(followed: str, pushed: str) -> bool:
    """Does a push to ``pushed`` (``refs/heads/main``) move the followed ``--ref``?"""
    if followed == pushed:
        return True
    return pushed in (f"refs/heads/{followed}", f"refs/tags/{followed}")


@dataclass
class Follower:
    """The fetch loop: every ``interval``, at once on ``trigger()``, backoff after a failure.

    Runs on every replica (each fetches into its own clone); ``on_moved(commit)`` is
    called when the followed commit changed, and the reconcile loop (leader only)
    applies it. Never raises out of ``run``.
    """

    repo: RemoteRepo
    interval: float = 60.0
    on_moved: Callable[[str], None] = lambda _commit: None
    health: Health = field(default_factory=Health)
    metrics: Metrics = field(default_factory=Metrics)
    log: EventLog = field(default_factory=EventLog)
    backoff: Backoff = field(default_factory=lambda: Backoff(DEFAULT_DELAYS))
    on_result: Callable[[FetchResult], None] = lambda _result: None
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    last: FetchResult | None = None
    thread: threading.Thread | None = None

    def trigger(self, reason: str = "webhook") -> None:
        """Fetch now (a push webhook); coalesces with a fetch already asked for."""
        self.log("fetch-requested", reason, ref=self.repo.ref)
        self.wake.set()

    def fetch_once(self, clock: float, at: float) -> FetchResult:
        """One fetch, reported; ``clock`` is monotonic (backoff), ``at`` the Unix time."""
        return self.report(self.repo.fetch(), clock, at)

    def report(self, result: FetchResult, clock: float, at: float) -> FetchResult:
        """Health, metrics, the log and the callbacks for one fetch's ``result``."""
        recovered = result.ok and self.last is not None and not self.last.ok
        self.last = result
        m = self.metrics
        m.fetches.labels("ok" if result.ok else "failed").inc()
        if result.ok:
            self.backoff.succeeded("fetch")
            m.fetch_failures.set(0)
            m.last_fetch.set(at)
            self.health.update(fetch={"ok": True, "commit": result.commit, "error": None,
                                      "attempts": 0, "url": self.repo.url,
                                      "ref": self.repo.ref})
            if recovered:
                self.log("fetch-ok", "fetching works again", commit=result.commit)
            if result.moved:
                self.log("fetched", f"{self.repo.ref} moved", commit=result.commit,
                         previous=result.previous, ms=round(result.seconds * 1000, 1))
        else:
            retry = self.backoff.failed("fetch", result.error, clock)
            m.fetch_failures.set(retry.attempts)
            self.health.update(fetch={"ok": False, "commit": result.commit,
                                      "error": result.error, "attempts": retry.attempts,
                                      "url": self.repo.url, "ref": self.repo.ref})
            self.log("fetch-failed", result.error, level="error", commit=result.commit,
                     attempt=retry.attempts, retry_in=f"{retry.retry_at - clock:.0f}s")
        self.on_result(result)
        if result.moved and result.commit:
            self.on_moved(result.commit)
        return result

    def next_at(self, last_clock: float) -> float:
        """When the next fetch is due: the backoff's retry after a failure, else interval."""
        retry = self.backoff.pending().get("fetch")
        if retry is not None:
            return retry.retry_at
        return last_clock + self.interval

    def run(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            timeout = max(0.0, self.next_at(last) - time.monotonic())
            self.wake.wait(timeout)
            if self.stop.is_set():
                break
            self.wake.clear()
            last = time.monotonic()
            try:
                self.fetch_once(last, time.time())
            except Exception as exc:  # never let the thread die: report and go on
                self.log("fetch-failed", f"{type(exc).__name__}: {exc}", level="error")

    def start(self) -> Follower:
        self.thread = threading.Thread(target=self.run, name="fetch", daemon=True)
        self.thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


def describe(repo: RemoteRepo) -> dict[str, Any]:
    """What the start line says about the followed repository (no credentials)."""
    return {"repo": repo.url, "ref": repo.ref, "clone": str(repo.path)}
