"""Operational state outside git: ``client set``/``client list``, ``halt``/``resume``,
``db upgrade``. The changes are made by ``state/operations.py`` (each appends to the apply
log, so a saved plan made before it is stale); here they are parsed and reported.
"""

from __future__ import annotations

from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    echo_json,
    format_option,
    now_option,
    parse_now,
    pass_context,
)
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state.queries import client_rows

SUBSCRIPTIONS = ("active", "trialing", "past_due", "canceled")


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


@client_group.command("set")
@click.argument("client")
@click.option("--subscription", type=click.Choice(SUBSCRIPTIONS))
@click.option("--credits", type=click.IntRange(min=0))
@now_option("Record the change at this time (ISO 8601); default: now.")
@pass_context
def client_set(ctx: Context, client: str, subscription: str | None,
               credits: int | None, now_text: str | None) -> int:
    """Set CLIENT's subscription status and/or credits.

    \b
    Example:
      campaign-gitops client set acme --subscription active --credits 5000
    """
    from campaign_gitops.state.operations import set_client

    if subscription is None and credits is None:
        raise CampaignGitopsError("nothing to set", "pass --subscription and/or --credits")
    defaults = ctx.config.client_defaults
    with ctx.session() as session:
        after = set_client(session, client, subscription=subscription, credits=credits,
                           defaults=defaults, file_clients=lambda: _file_clients(ctx),
                           now=parse_now(now_text))
    click.echo(f"client {client}: subscription {after['subscription']}, "
               f"credits {after['credits']}")
    return 0


def _clients_text(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        flags = " HALTED" if r["halted"] else ""
        click.echo(f"{r['name']:<24} {r['subscription']:<10} {r['credits']:>10} credits{flags}")
    if not rows:
        click.echo("no clients (apply creates them from Client files)")


def _clients_json(rows: list[dict[str, Any]]) -> None:
    echo_json({"clients": rows})


LIST_FORMATS = {"text": _clients_text, "json": _clients_json}


@client_group.command("list")
@format_option(LIST_FORMATS)
@pass_context
def client_list(ctx: Context, fmt: str) -> int:
    """Every client's subscription, credits and halt flag.

    \b
    Example:
      campaign-gitops client list --format json
    """
    with ctx.session(create=False) as session:
        rows = client_rows(session)
    LIST_FORMATS[fmt](rows)
    return 0


def _set_halt(ctx: Context, client: str | None, halted: bool, reason: str | None,
              now_text: str | None) -> str:
    """Halt or resume (``state/operations.py``) and say what changed."""
    from campaign_gitops.state.operations import set_halt

    with ctx.session() as session:
        set_halt(session, client, halted=halted, reason=reason, now=parse_now(now_text))
    what = "all delivery" if client is None else f"delivery for client {client}"
    return what + (" is halted" if halted else " resumed")


@click.command("halt")
@click.option("--client", help="Only this client (default: everything).")
@click.option("--reason", help="Shown in status and in the tick's report.")
@now_option("Record the halt at this time (ISO 8601); default: now.")
@pass_context
def halt_command(ctx: Context, client: str | None, reason: str | None,
                 now_text: str | None) -> int:
    """Emergency stop of all delivery (or one client's), whatever the files say.

    \b
    Example:
      campaign-gitops halt --reason "complaint from a recipient"
      campaign-gitops halt --client acme
    """
    done = _set_halt(ctx, client, True, reason, now_text)
    click.echo(done + " (campaign-gitops resume undoes it)")
    return 0


@click.command("resume")
@click.option("--client", help="Only this client (default: the global halt).")
@now_option("Record the resume at this time (ISO 8601); default: now.")
@pass_context
def resume_command(ctx: Context, client: str | None, now_text: str | None) -> int:
    """Undo ``halt``: delivery continues within windows and limits (no burst).

    \b
    Example:
      campaign-gitops resume
      campaign-gitops resume --client acme
    """
    click.echo(_set_halt(ctx, client, False, None, now_text))
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
