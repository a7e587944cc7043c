"""Recipients' rights: ``suppressions list|add|remove|import|export`` (and the data
requests ``leads forget`` / ``leads export``, registered on the ``leads`` group).

Every change goes through inbound/suppressions.py and lands in the audit log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    Listing,
    echo_as_json,
    echo_json,
    format_option,
    now_option,
    parse_now,
    pass_context,
)
from campaign_gitops.inbound import suppressions as supp

COLUMNS = ["client", "contact", "channel", "reason", "source", "created_at"]
SUPPRESSIONS = Listing("suppressions", COLUMNS, "no suppressions", paged=False)
channel_option = click.option("--channel", type=click.Choice(supp.CHANNELS), default=supp.ALL,
                              show_default=True, help="The channel ('*': every channel).")


@click.group("suppressions", invoke_without_command=True)
@click.pass_context
def suppressions_group(click_ctx: click.Context) -> int:
    """Contacts a client must never contact again (unsubscribes, bounces, complaints,
    STOPs, and the ones you add).

    \b
    Example:
      campaign-gitops suppressions list --client acme
      campaign-gitops suppressions add jo@example.com --client acme
    """
    if click_ctx.invoked_subcommand is None:
        return click_ctx.invoke(suppressions_list)
    return 0


def _rows(ctx: Context, client: str | None) -> list[dict[str, object]]:
    with ctx.session(create=False) as session:
        return [r.as_json() for r in supp.list_suppressions(session, client)]


@suppressions_group.command("list")
@SUPPRESSIONS.options(click.option("--client", help="Only this client."))
@pass_context
def suppressions_list(ctx: Context, client: str | None = None, fmt: str = "text") -> int:
    """List suppressions, newest first.

    \b
    Example:
      campaign-gitops suppressions list --client acme --format json
    """
    SUPPRESSIONS.formats[fmt](_rows(ctx, client))
    return 0


def _csv(rows: list[dict[str, object]]) -> None:
    import csv

    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


EXPORT_FORMATS = {"text": _csv, "json": SUPPRESSIONS.json}


@suppressions_group.command("export")
@click.option("--client", help="Only this client.")
@format_option(EXPORT_FORMATS)
@pass_context
def suppressions_export(ctx: Context, client: str | None, fmt: str) -> int:
    """Print the suppressions (JSON that ``suppressions import`` reads back, or CSV).

    \b
    Example:
      campaign-gitops suppressions export --client acme --format json > acme.json
    """
    EXPORT_FORMATS[fmt](_rows(ctx, client))
    return 0


@suppressions_group.command("add")
@click.argument("contacts", nargs=-1, required=True)
@click.option("--client", required=True, help="The client that must not contact them.")
@channel_option
@click.option("--reason", type=click.Choice(supp.REASONS), default="manual", show_default=True)
@now_option()
@pass_context
def suppressions_add(ctx: Context, contacts: tuple[str, ...], client: str, channel: str,
                     reason: str, now_text: str | None) -> int:
    """Suppress contacts (emails or phones) for a client.

    \b
    Example:
      campaign-gitops suppressions add jo@example.com +61299990000 --client acme
    """
    now = parse_now(now_text)
    with ctx.session() as session:
        for contact in contacts:
            new = supp.suppress(session, client, contact, reason=reason, source="cli",
                                actor="cli", now=now, channel=channel)
            state = "suppressed" if new else "already suppressed"
            click.echo(f"{state}: {supp.normalize_contact(contact)} for {client} "
                       f"(channel {channel})")
    return 0


@suppressions_group.command("remove")
@click.argument("contacts", nargs=-1, required=True)
@click.option("--client", required=True, help="The client.")
@click.option("--channel", type=click.Choice(supp.CHANNELS),
              help="Only this channel's suppression (default: every one).")
@now_option()
@pass_context
def suppressions_remove(ctx: Context, contacts: tuple[str, ...], client: str,
                        channel: str | None, now_text: str | None) -> int:
    """Lift suppressions (a forgotten person's hashed one stays).

    \b
    Example:
      campaign-gitops suppressions remove jo@example.com --client acme --channel sms
    """
    now = parse_now(now_text)
    missing = 0
    with ctx.session() as session:
        for contact in contacts:
            removed = supp.unsuppress(session, client, contact, actor="cli", now=now,
                                      channel=channel)
            missing += not removed
            click.echo(f"removed {removed} suppression(s) of "
                       f"{supp.normalize_contact(contact)} for {client}")
    if missing:
        return 1
    return 0


@suppressions_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--client", help="The client of rows without a client column.")
@now_option()
@pass_context
def suppressions_import(ctx: Context, file: Path, client: str | None,
                        now_text: str | None) -> int:
    """Import suppressions from a CSV (contact[,client,channel,reason]) or the JSON of
    ``suppressions export``; nothing is written when a row is bad (exit 1).

    \b
    Example:
      campaign-gitops suppressions import optouts.csv --client acme
    """
    from campaign_gitops.runs.suppression_file import import_file

    with ctx.session() as session:
        new, old, errors = import_file(session, file, client=client, now=parse_now(now_text))
    for error in errors:
        click.echo(f"{file}:{error.line}: {error.reason}", err=True)
    if errors:
        click.echo(f"{len(errors)} bad row(s): nothing imported", err=True)
        return 1
    click.echo(f"imported {new} suppression(s) from {file}, {old} already there")
    return 0


# ---------------------------------------------------------------- data requests


def _forgot_text(done: supp.Forgotten) -> None:
    click.echo(f"forgot {done.contact_hash}: {done.leads} lead(s), {done.messages} "
               f"message(s), {done.replies} repl(ies) erased; {done.suppressions} hashed "
               "suppression(s) kept")


FORGET_FORMATS = {"text": _forgot_text, "json": echo_as_json}


@click.command("forget")
@click.argument("contact")
@now_option()
@format_option(FORGET_FORMATS)
@pass_context
def leads_forget(ctx: Context, contact: str, now_text: str | None, fmt: str) -> int:
    """Erase a person everywhere (lead, message bodies, replies); keep only a hashed
    suppression so they are never contacted again.

    \b
    Example:
      campaign-gitops leads forget jo@example.com
    """
    with ctx.session() as session:
        done = supp.forget(session, contact, actor="cli", now=parse_now(now_text))
    FORGET_FORMATS[fmt](done)
    return 0


@click.command("export")
@click.argument("contact")
@now_option()
@pass_context
def leads_export(ctx: Context, contact: str, now_text: str | None) -> int:
    """Print as JSON every piece of data held on a person (a data access request).

    \b
    Example:
      campaign-gitops leads export jo@example.com > jo.json
    """
    with ctx.session() as session:
        data = supp.export_contact(session, contact, actor="cli", now=parse_now(now_text))
    echo_json(data)
    return 0


def _fetched_text(reports: list[Any], errors: list[str]) -> None:
    for r in reports:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(r.kinds.items())) or "nothing new"
        click.echo(f"{r.mailbox}: {r.seen} mail(s): recorded {r.recorded} ({kinds}), "
                   f"{r.duplicates} recorded before, {r.unmatched} unmatched (left in "
                   f"place), moved {r.moved}")
    for error in errors:
        click.echo(f"error: {error}", err=True)


def _fetched_json(reports: list[Any], errors: list[str]) -> None:
    echo_json({"mailboxes": [r.as_json() for r in reports], "errors": errors})


FETCH_FORMATS = {"text": _fetched_text, "json": _fetched_json}


@click.command("fetch")
@click.option("--mailbox", help="Only this mailbox (a name under inbound.mailboxes).")
@now_option("Record the mails as received at this time (ISO 8601); default: now.")
@format_option(FETCH_FORMATS)
@pass_context
def replies_fetch(ctx: Context, mailbox: str | None, now_text: str | None, fmt: str) -> int:
    """Read new mail from the inbound IMAP mailboxes once: classify (reply, out of office,
    bounce, complaint), record each once, move it to the processed folder; mail that
    matches nothing stays and is counted. Exit 1 when a mailbox could not be read.

    \b
    Example:
      campaign-gitops replies fetch --mailbox replies
    """
    from campaign_gitops.inbound.imap import MailboxError, mailboxes
    from campaign_gitops.inbound.tokens import Signer
    from campaign_gitops.runs.inbound import fetch_mailbox

    boxes = mailboxes(ctx.config, mailbox)
    now = parse_now(now_text)
    db = ctx.open_db()
    reports, errors = [], []
    try:
        for box in boxes:
            try:
                reports.append(fetch_mailbox(db, box, now=now, signer=Signer.from_env()))
            except MailboxError as exc:
                errors.append(exc.message)
    finally:
        db.dispose()
    FETCH_FORMATS[fmt](reports, errors)
    if errors:
        return 1
    return 0


def register(group: click.Group) -> None:
    group.add_command(suppressions_group)
