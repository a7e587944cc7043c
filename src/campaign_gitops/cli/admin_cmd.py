"""Operational state outside git: ``client set``/``client list``, ``halt``/``resume``,
``db upgrade``. Each change appends to the apply log (so a saved plan made before it is
stale) with the git commit of the repo and the actor ``cli``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from sqlalchemy.orm import Session

from campaign_gitops.cli.common import Context, pass_context
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state import kv
from campaign_gitops.state import tables as t
from campaign_gitops.state.queries import client_names, client_rows

SUBSCRIPTIONS = ("active", "trialing", "past_due", "canceled")


def _log(session: Session, action: str, resource: str, detail: dict[str, Any]) -> None:
    session.add(t.ApplyLog(action=action, resource=resource, detail=detail, actor="cli",
                           at=dt.datetime.now(dt.UTC)))


@click.group("client")
def client_group() -> None:
    """A client's operational state: subscription and credits (never in git).

    \b
    Example:
      campaign-gitops client list
      campaign-gitops client set acme --subscription active --credits 5000
    """


def _file_clients(ctx: Context) -> set[str]:
    """The clients the files define (Client resources and the clients they name)."""
    from campaign_gitops.reconcile.service import load_project_bundle

    try:
        bundle = load_project_bundle(ctx.project)
    except CampaignGitopsError:  # no resources folder: the files define none
        return set()
    return {key.client for key in bundle.entries}


def _require_known(ctx: Context, session: Session, client: str) -> None:
    """``client set`` only for a client in the database or the files (like ``halt``)."""
    known = _file_clients(ctx) | set(client_names(session))
    if client in known:
        return
    names = ", ".join(sorted(known)[:20]) or "none"
    raise CampaignGitopsError(
        f"no client {client!r} in the database or the files",
        f"known clients: {names} (campaign-gitops client list; a new client starts "
        "with a Client file and apply)")


@client_group.command("set")
@click.argument("client")
@click.option("--subscription", type=click.Choice(SUBSCRIPTIONS))
@click.option("--credits", type=click.IntRange(min=0))
@pass_context
def client_set(ctx: Context, client: str, subscription: str | None,
               credits: int | None) -> int:
    """Set CLIENT's subscription status and/or credits.

    \b
    Example:
      campaign-gitops client set acme --subscription active --credits 5000
    """
    if subscription is None and credits is None:
        raise CampaignGitopsError("nothing to set", "pass --subscription and/or --credits")
    defaults = ctx.config.client_defaults
    db = ctx.open_db()
    now = dt.datetime.now(dt.UTC)
    try:
        with db.session() as session:
            row = session.get(t.Client, client)
            if row is None:
                _require_known(ctx, session, client)
                row = t.Client(name=client, subscription=defaults.subscription,
                               credits=defaults.credits, created_at=now)
                session.add(row)
            before = {"subscription": row.subscription, "credits": row.credits}
            if subscription is not None:
                row.subscription = subscription
            if credits is not None:
                row.credits = credits
            row.updated_at = now
            after = {"subscription": row.subscription, "credits": row.credits}
            _log(session, "client", f"{client}/Client/{client}",
                 {"before": before, "after": after})
    finally:
        db.dispose()
    click.echo(f"client {client}: subscription {after['subscription']}, "
               f"credits {after['credits']}")
    return 0


@client_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@pass_context
def client_list(ctx: Context, fmt: str) -> int:
    """Every client's subscription, credits and halt flag.

    \b
    Example:
      campaign-gitops client list --format json
    """
    db = ctx.open_db(create=False)
    try:
        with db.session() as session:
            rows = client_rows(session)
    finally:
        db.dispose()
    if fmt == "json":
        click.echo(json.dumps({"clients": rows}, indent=2))
        return 0
    for r in rows:
        flags = " HALTED" if r["halted"] else ""
        click.echo(f"{r['name']:<24} {r['subscription']:<10} {r['credits']:>10} credits{flags}")
    if not rows:
        click.echo("no clients (apply creates them from Client files)")
    return 0


def _set_halt(ctx: Context, client: str | None, halted: bool, reason: str | None) -> str:
    db = ctx.open_db()
    now = dt.datetime.now(dt.UTC)
    action = "halt" if halted else "resume"
    try:
        with db.session() as session:
            if client is None:
                kv.write(session, kv.HALT_GLOBAL,
                         {"halted": halted, "reason": reason, "at": now.isoformat()}, now)
                _log(session, action, "*", {"reason": reason})
                return "all delivery" + (" is halted" if halted else " resumed")
            target = session.get(t.Client, client)
            if target is None:
                raise CampaignGitopsError(f"no client {client!r} in the database",
                                          "campaign-gitops client list shows them")
            target.halted = halted
            target.updated_at = now
            _log(session, action, f"{client}/Client/{client}", {"reason": reason})
            return f"delivery for client {client}" + (" is halted" if halted else " resumed")
    finally:
        db.dispose()


@click.command("halt")
@click.option("--client", help="Only this client (default: everything).")
@click.option("--reason", help="Shown in status and in the tick's report.")
@pass_context
def halt_command(ctx: Context, client: str | None, reason: str | None) -> int:
    """Emergency stop of all delivery (or one client's), whatever the files say.

    \b
    Example:
      campaign-gitops halt --reason "complaint from a recipient"
      campaign-gitops halt --client acme
    """
    click.echo(_set_halt(ctx, client, True, reason) + " (campaign-gitops resume undoes it)")
    return 0


@click.command("resume")
@click.option("--client", help="Only this client (default: the global halt).")
@pass_context
def resume_command(ctx: Context, client: str | None) -> int:
    """Undo ``halt``: delivery continues within windows and limits (no burst).

    \b
    Example:
      campaign-gitops resume
      campaign-gitops resume --client acme
    """
    click.echo(_set_halt(ctx, client, False, None))
    return 0


@click.group("db")
def db_group() -> None:
    """The database schema.

    \b
    Example:
      campaign-gitops db upgrade
    """


@db_group.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> int:
    """Create the database or bring its schema to this version (Alembic migrations).

    \b
    Example:
      campaign-gitops db upgrade     # the database --db / $CAMPAIGN_GITOPS_DB names
    """
    from campaign_gitops.redact import redact_url
    from campaign_gitops.state.db import current_revision

    db = ctx.open_db()
    try:
        revision = current_revision(db.engine)
    finally:
        db.dispose()
    click.echo(f"{redact_url(db.url)}: schema at revision {revision}")
    return 0


def register(group: click.Group) -> None:
    group.add_command(client_group)
    group.add_command(halt_command)
    group.add_command(resume_command)
    group.add_command(db_group)
