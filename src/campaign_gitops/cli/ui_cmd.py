"""``campaign-gitops ui``: the web view and the /api/v1 JSON API."""

from __future__ import annotations

import os
import signal

import click

from campaign_gitops.cli.common import Context, pass_context


@click.command("ui")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs a strong "
                   "CAMPAIGN_GITOPS_UI_TOKEN (32+ random characters).")
@click.option("--plan-ttl", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds between checks whether the files or the database changed "
                   "(sync states and the Plan page are recomputed only then).")
@click.option("--secure-cookies", is_flag=True,
              help="Mark the session and CSRF cookies Secure (behind an HTTPS proxy).")
@pass_context
def ui_command(ctx: Context, port: int, host: str, plan_ttl: float,
               secure_cookies: bool) -> int:
    """Serve the campaigns workspace in a browser, and the JSON API under /api/v1.

    \b
    Pages: campaigns (sync state at a glance, overview pane), runs, communications,
    replies, plan, review queue. OpenAPI: /api/v1/openapi.json.

    \b
    Example:
      campaign-gitops ui                          # http://127.0.0.1:8080
      python3 -c 'import secrets; print(secrets.token_urlsafe(32))'  # a strong token
      CAMPAIGN_GITOPS_UI_TOKEN=<that token> campaign-gitops ui --host 0.0.0.0
    """
    from campaign_gitops.redact import redact_url
    from campaign_gitops.web.app import check_bind, create_app, loopback_hosts, serve
    from campaign_gitops.web.security import TOKEN_ENV

    token = os.environ.get(TOKEN_ENV) or None
    check_bind(host, token)
    db = ctx.open_db()
    app = create_app(db, project=ctx.project, config=ctx.config, token=token,
                     allowed_hosts=loopback_hosts(host, token), plan_ttl=plan_ttl,
                     secure_cookies=secure_cookies)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"campaign-gitops ui on http://{shown}:{port} (database {redact_url(ctx.db)}, "
               f"{'token required' if token else 'no token: loopback only'})", err=True)
    # uvicorn handles SIGTERM/SIGINT while serving and re-raises the signal after its
    # graceful shutdown; this handler makes that (or a signal during start-up) exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        serve(app, host, port)
    finally:
        db.dispose()
    return 0


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def register(group: click.Group) -> None:
    group.add_command(ui_command)
