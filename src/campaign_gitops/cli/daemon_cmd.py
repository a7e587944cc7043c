"""``campaign-gitops reconcile``: the daemon that keeps the database converged with the repo."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from typing import Any

import click

from campaign_gitops.cli.common import Context, apply_delay, pass_context
from campaign_gitops.config.discovery import relative_name
from campaign_gitops.config.project import Project
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.daemon import Options, Reconciler
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.health import Health, HealthServer, Metrics
from campaign_gitops.reconcile.leader import leadership_for
from campaign_gitops.reconcile.runner import LoopOptions, Runner
from campaign_gitops.reconcile.sources import GitSource, WorktreeSource
from campaign_gitops.redact import redact_url


def _tick_function(db: Any, config: Any, root: Any) -> Any:
    from campaign_gitops.runs.tick import tick

    def run(now: dt.datetime) -> Any:
        return tick(db, now=now, config=config, root=root)

    return run


@click.command("reconcile")
@click.option("--once", is_flag=True, help="Reconcile (and tick) once, then exit; 1 if "
              "anything failed.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between full resyncs (catches drift in the database).")
@click.option("--tick-interval", type=click.FloatRange(min=0), default=60.0,
              show_default=True, help="Seconds between ticks of due sequence steps (0: off).")
@click.option("--prune", is_flag=True, help="Archive resources whose file is gone.")
@click.option("--allow-mass-prune", is_flag=True,
              help="Let --prune archive more than pruneMaxShare of the resources.")
@click.option("--health-port", type=click.IntRange(0, 65535), default=None,
              help="Serve /healthz, /readyz and /metrics on this port (127.0.0.1).")
@click.option("--health-host", default="127.0.0.1", show_default=True,
              help="Address the health endpoints listen on.")
@click.option("--source", type=click.Choice(["worktree", "git"]), default="worktree",
              show_default=True, help="Follow the files as saved, or only what is committed.")
@click.option("--ref", default="main", show_default=True,
              help="The ref --source git (or --repo) follows.")
@click.option("--repo", "repo_url", default=None, metavar="URL",
              help="Follow this remote repository (https, ssh or file URL; credentials from "
                   "the environment): cloned under .campaign-gitops/repos/, --ref's commit "
                   "reconciled.")
@click.option("--fetch-interval", type=click.FloatRange(min=1), default=60.0,
              show_default=True, help="Seconds between fetches of --repo (a push webhook "
                                      "on /hooks/git fetches at once).")
@click.option("--lease-ttl", type=click.FloatRange(min=1), default=15.0, show_default=True,
              help="PostgreSQL: seconds a leader's lease lasts unrenewed; a frozen leader "
                   "is replaced within it (a killed one within about a second).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--debounce-ms", type=click.IntRange(0, 60000), default=50, show_default=True,
              help="Quiet time that ends a burst of file events.")
@click.option("--inbound-interval", type=click.FloatRange(min=0), default=60.0,
              show_default=True, help="Seconds between reads of inbound.mailboxes (0: off).")
@click.option("--ui-port", type=click.IntRange(0, 65535), default=None,
              help="Also serve the web UI and /api/v1 (as `campaign-gitops ui`) on this port.")
@click.option("--ui-host", default="127.0.0.1", show_default=True,
              help="Address the UI listens on; anything but loopback needs a strong "
                   "CAMPAIGN_GITOPS_UI_TOKEN (32+ random characters).")
@pass_context
def reconcile_cmd(ctx: Context, once: bool, interval: float, tick_interval: float, prune: bool,
                  allow_mass_prune: bool, health_port: int | None, health_host: str,
                  source: str, ref: str,
                  log_format: str, debounce_ms: int, ui_port: int | None,
                  ui_host: str, repo_url: str | None, fetch_interval: float,
                  inbound_interval: float, lease_ttl: float) -> int:
    """Watch the repo and keep the database converged with it.

    \b
    Full reconcile at start, then incremental on each change (debounced), a full resync
    every --interval, ticks on --tick-interval. A file that fails to load or lint keeps
    its resources at their last good state. One leader per PostgreSQL database
    (a lease renewed each second, --lease-ttl; the advisory lock fences each apply);
    one daemon per SQLite file. SIGTERM/SIGINT: clean exit 0.

    \b
    Example:
      campaign-gitops reconcile --health-port 9464
      campaign-gitops reconcile --source git --ref main --log-format json
      campaign-gitops reconcile --once          # for cron and CI
      campaign-gitops reconcile --ui-port 8080  # and the web UI in the same process
      campaign-gitops reconcile --repo https://git.example.com/team/campaigns.git \\
          --ref main --ui-port 8080             # POST /hooks/git fetches at once

    \b
    --repo: https with CAMPAIGN_GITOPS_GIT_TOKEN (never in the URL), ssh with
    GIT_SSH_COMMAND; webhook secret in CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET.
    """
    return run_daemon(ctx, once=once, interval=interval, tick_interval=tick_interval,
                       prune=prune, allow_mass_prune=allow_mass_prune,
                       health_port=health_port, health_host=health_host,
                       source=source, ref=ref, log_format=log_format,
                       debounce_ms=debounce_ms, ui_port=ui_port, ui_host=ui_host,
                       repo_url=repo_url, fetch_interval=fetch_interval,
                       inbound_interval=inbound_interval, lease_ttl=lease_ttl)


def _follow(project: Any, repo_url: str, ref: str) -> Any:
    """The remote repository, fetched once: a clone with no good commit is an error."""
    from campaign_gitops.reconcile.remote import RemoteRepo

    remote = RemoteRepo(repo_url, ref, project.root / ".campaign-gitops" / "repos")
    first = remote.fetch()
    if first.commit is None:
        raise CampaignGitopsError(f"could not fetch {ref} of {remote.url}: {first.error}",
                                  "check the URL, --ref and the credentials in the "
                                  "environment (CAMPAIGN_GITOPS_GIT_TOKEN, GIT_SSH_COMMAND)")
    return remote, first


def run_daemon(ctx: Context, *, once: bool, interval: float, tick_interval: float, prune: bool,
               health_port: int | None, health_host: str, source: str, ref: str,
               log_format: str, debounce_ms: int, ui_port: int | None = None,
               ui_host: str = "127.0.0.1", repo_url: str | None = None,
               fetch_interval: float = 60.0, inbound_interval: float = 60.0,
               allow_mass_prune: bool = False, lease_ttl: float = 15.0) -> int:
    # SIGTERM/SIGINT during start-up are remembered and honoured as soon as the loop
    # exists (a clean stop, exit 0) instead of killing the process half-started.
    early_stop: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signal.Signals(signum).name))
    project = ctx.project
    config = ctx.config
    log = EventLog(log_format)
    ui_token = os.environ.get("CAMPAIGN_GITOPS_UI_TOKEN") or None
    if ui_port is not None:
        from campaign_gitops.web.app import check_bind

        check_bind(ui_host, ui_token)  # refused before anything starts
    remote = first = None
    if repo_url is not None:
        from campaign_gitops.reconcile.remote import remote_config

        remote, first = _follow(project, repo_url, ref)
        config = remote_config(remote, config)  # the repository's campaign-gitops.yaml
        source = "git"
    elif source == "worktree" and not project.resources_dir.is_dir():
        raise CampaignGitopsError(
            f"no resources folder at {project.resources_dir}",
            "run from the repo root or pass --dir (a missing folder is never read as "
            "'everything deleted')")
    reader = (remote.source(project) if remote is not None
              else GitSource(project.root, project.resources_dir, ref) if source == "git"
              else WorktreeSource(project.root, project.resources_dir))
    if isinstance(reader, GitSource):
        reader.resolve()  # a bad ref fails now, with git's message
    url = ctx.db
    leader = leadership_for(url, ttl=lease_ttl, clock=time.monotonic)
    if leader.kind == "sqlite":
        leader.try_acquire()  # a second daemon on this file is refused before anything else
    db = ctx.open_db()
    metrics, health = Metrics(), Health(max_age=interval, clock=time.monotonic)
    options = Options(prune=prune, allow_mass_prune=allow_mass_prune,
                      apply_delay=apply_delay())
    reconciler = Reconciler(project, db, reader, config=config, options=options,
                            log=log, metrics=metrics, health=health)
    tick = _tick_function(db, config, project.root) if once or tick_interval > 0 else None
    runner = Runner(reconciler, leader, LoopOptions(
        interval=interval, tick_interval=tick_interval, debounce=debounce_ms / 1000.0,
        max_wait=max(1.0, debounce_ms / 1000.0 * 4)), tick=tick)
    log("starting", f"database {redact_url(url)}", source=source,
        ref=ref if source == "git" else None, dir=str(project.resources_dir), prune=prune,
        repo=remote.url if remote is not None else None)
    follower = None
    if remote is not None and first is not None:
        from campaign_gitops.reconcile.remote import FOLLOWED, Follower

        view = _web_checkout(remote, log) if ui_port is not None else None
        if view is not None and first.commit is not None:
            view(first.commit)

        def moved(commit: str) -> None:
            runner.events.put(str(remote.path / FOLLOWED))
            if view is not None:
                view(commit)

        follower = Follower(remote, fetch_interval, log=log, metrics=metrics, health=health,
                            on_moved=moved)
        follower.report(first, time.monotonic(), time.time())  # the start-up fetch
    wake = None
    if follower is not None and leader.kind == "postgresql":
        from campaign_gitops.reconcile.fetch_wake import PgWake

        wake = PgWake(url, follower.trigger, log=log)
    notifier = _notifier(config, db, log, health) if not once else None
    if once:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return 0 if early_stop else runner.once()
        finally:
            leader.release()
            db.dispose()
    server = None
    if health_port is not None:
        server = HealthServer(health, metrics, health_port, health_host).start()
        log("health", f"listening on http://{health_host}:{server.port}", port=server.port)
    ui = None
    if ui_port is not None:
        from campaign_gitops.web.app import create_app, loopback_hosts, start_in_thread

        ui_project = project
        if remote is not None:  # the web's plan and sync views read the checkout
            tree = remote.path.with_suffix(".worktree")
            ui_project = Project(root=tree, resources_dir=tree / relative_name(
                project.resources_dir, project.root))
        app = create_app(db, project=ui_project, config=config, token=ui_token,
                         allowed_hosts=loopback_hosts(ui_host, ui_token))
        if follower is not None:
            _add_git_hook(app, follower, wake)
        ui = start_in_thread(app, ui_host, ui_port)
        log("ui", f"listening on http://{ui_host}:{ui.port}", port=ui.port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: runner.request_stop(
            signal.Signals(signum).name))
    if early_stop:
        runner.request_stop(early_stop[0])
    if follower is not None:
        follower.start()
    if wake is not None:
        wake.start()
    poller = _inbound(config, db, inbound_interval, log, metrics, health)
    try:
        return runner.serve()
    finally:
        for part in (poller, wake, follower, notifier):
            if part is not None:
                part.close()
        for started in (server, ui):
            if started is not None:
                started.stop()
        db.dispose()
        log("stopped", "clean shutdown")


def _web_checkout(remote: Any, log: EventLog) -> Any:
    """Keeps a plain checkout of the followed commit for the web UI (``--repo --ui-port``)."""
    def update(commit: str) -> None:
        try:
            remote.checkout(commit)
        except CampaignGitopsError as exc:  # the UI shows the previous commit meanwhile
            log("checkout-failed", str(exc), level="warn", commit=commit)

    return update


def _notifier(config: Any, db: Any, log: EventLog, health: Health) -> Any:
    """``notifications`` of campaign-gitops.yaml fed by the log (None when there are none)."""
    if not config.notifications:
        return None
    from campaign_gitops.notify.conditions import scan
    from campaign_gitops.notify.notifier import Notifier

    notifier = Notifier.from_config(config.notifications, log=log, scan=lambda: scan(db),
                                    active_only=lambda: health.role == "leader")
    log.listeners.append(notifier.listen)
    return notifier.start()


def _inbound(config: Any, db: Any, interval: float, log: EventLog, metrics: Metrics,
             health: Health) -> Any:
    """The inbound-mail poll (None without mailboxes or with --inbound-interval 0)."""
    if not config.inbound.mailboxes or interval <= 0:
        return None
    from campaign_gitops.inbound.tokens import Signer
    from campaign_gitops.reconcile.inbound_poll import InboundPoller

    log("inbound", f"reading {len(config.inbound.mailboxes)} mailbox(es) every {interval:g}s",
        mailboxes=[b.name for b in config.inbound.mailboxes])
    return InboundPoller(db, list(config.inbound.mailboxes), interval, Signer.from_env(),
                         health=health, metrics=metrics, log=log).start()


def _add_git_hook(app: Any, follower: Any, wake: Any) -> None:
    """``POST /hooks/git`` on the UI server: a signed push to the followed ref fetches now
    (here, and on every other replica through PostgreSQL when ``wake`` is set)."""
    from campaign_gitops.reconcile.remote import ref_matches
    from campaign_gitops.web.public import WEBHOOK_SECRET_ENV, git_hook_router

    def on_push(reason: str) -> None:
        follower.trigger(reason)
        if wake is not None:
            wake.notify(reason)

    ref = follower.repo.ref
    app.include_router(git_hook_router(on_push, lambda pushed: ref_matches(ref, pushed),
                                       ref, os.environ.get(WEBHOOK_SECRET_ENV) or None))


def register(group: click.Group) -> None:
    group.add_command(reconcile_cmd)
