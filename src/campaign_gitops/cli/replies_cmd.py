"""``replies``: alone it lists replies; ``replies add`` and ``replies import`` record
them (``replies fetch`` comes from recipients_cmd.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    Listing,
    campaign_scope,
    echo_as_json,
    echo_json,
    format_option,
    newest_rows,
    parse_now,
    pass_context,
    run_filter,
)
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.replies import KINDS as REPLY_KINDS
from campaign_gitops.textsafe import printable

REPLY_COLUMNS = ["id", "client", "campaign", "contact", "kind", "message_id", "received_at"]
REPLIES = Listing("replies", REPLY_COLUMNS, "no replies")


@click.group("replies", invoke_without_command=True)
@REPLIES.options(
    click.option("--campaign", help="Only this campaign (name or client/name)."),
    click.option("--client", help="Only this client."),
    click.option("--run", "run_ref", help="Only this run (id or client/campaign/run)."),
    click.option("--kind", type=click.Choice(REPLY_KINDS), help="Only this kind."))
@click.pass_context
def replies_group(click_ctx: click.Context, campaign: str | None, client: str | None,
                  run_ref: str | None, kind: str | None, limit: int, before: int | None,
                  fmt: str) -> int:
    """List replies and outcomes, newest last (``replies add`` / ``replies import``
    record them).

    \b
    Example:
      campaign-gitops replies --campaign acme/cto-au-q1
      campaign-gitops replies --kind unsubscribe --format json
    """
    if click_ctx.invoked_subcommand is not None:
        return 0
    from campaign_gitops.state.listings import replies_page

    with click_ctx.ensure_object(Context).session() as session:
        rows, older = newest_rows(session, replies_page, limit=limit, before=before,
                                  **campaign_scope(session, campaign, client), kind=kind,
                                  run=run_filter(session, run_ref))
    REPLIES.formats[fmt](rows, older)
    return 0


def _reply_text(result: Any) -> str:
    parts = [f"reply {result.reply_id}: {result.kind} from {printable(result.contact)}"]
    if result.lead_id is None:
        parts.append("(no matching lead)")
    if result.stopped:
        parts.append(f"stopped {result.stopped} sequence(s)")
    if result.suppressed:
        parts.append(f"suppressed for {result.client}")
    return ", ".join(parts)


def _echo_reply(result: Any) -> None:
    click.echo(_reply_text(result))


ADD_FORMATS = {"text": _echo_reply, "json": echo_as_json}


def _import_text(file: Path, results: list[Any], errors: list[Any]) -> None:
    for error in errors:
        click.echo(f"{file}:{error.line}: {printable(error.reason)}", err=True)
    for result in results:
        click.echo(_reply_text(result))
    click.echo(f"recorded {len(results)} repl{'y' if len(results) == 1 else 'ies'}")


def _import_json(file: Path, results: list[Any], errors: list[Any]) -> None:
    echo_json({"replies": [r.as_json() for r in results],
               "errors": [{"line": e.line, "reason": e.reason} for e in errors]})


IMPORT_FORMATS = {"text": _import_text, "json": _import_json}


@replies_group.command("add")
@click.option("--contact", required=True, help="The lead's email or phone.")
@click.option("--kind", required=True, type=click.Choice(REPLY_KINDS))
@click.option("--campaign", help="The campaign it answers (name or client/name).")
@click.option("--body", help="The text of the reply.")
@click.option("--in-reply-to", help="The email's In-Reply-To Message-ID.")
@click.option("--now", "now_text", metavar="ISO", help="When it was received.")
@click.option("--unmatched-ok", is_flag=True,
              help="Record it even when no lead has this contact (else: nothing recorded, "
                   "exit 1).")
@format_option(ADD_FORMATS)
@pass_context
def replies_add(ctx: Context, contact: str, kind: str, campaign: str | None,
                body: str | None, in_reply_to: str | None, now_text: str | None,
                unmatched_ok: bool, fmt: str) -> int:
    """Record one reply or outcome (a reply stops the lead's sequence).

    \b
    Example:
      campaign-gitops replies add --contact olivia.nguyen@linkt.com.au --kind reply \\
        --campaign acme/cto-au-q1 --body "Tuesday works"
    """
    from campaign_gitops.runs.replies import ReplyInput, add_reply

    item = ReplyInput(contact=contact, kind=kind, campaign=campaign, body=body,
                      in_reply_to=in_reply_to)
    with ctx.session() as session:
        result = add_reply(session, item, now=parse_now(now_text))
        if result.lead_id is None and not result.suppressed and not unmatched_ok:
            raise UnmatchedReplyError(
                f"no lead has the contact {contact!r}"
                + (f" in {campaign}" if campaign else "") + ": nothing recorded",
                "check the address (leads import added the leads?), or pass --unmatched-ok "
                "to record it anyway")
    ADD_FORMATS[fmt](result)
    return 0


class UnmatchedReplyError(CampaignGitopsError):
    exit_code = 1


@replies_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Record the good rows, report the rest.")
@click.option("--now", "now_text", metavar="ISO", help="Received time for rows without one.")
@format_option(IMPORT_FORMATS)
@pass_context
def replies_import(ctx: Context, file: Path, skip_invalid: bool, now_text: str | None,
                   fmt: str) -> int:
    """Record replies from a CSV (contact,kind,campaign,body,in_reply_to) or JSONL file.

    \b
    Example:
      campaign-gitops replies import replies.csv --skip-invalid
    """
    from campaign_gitops.runs.replies import import_replies

    with ctx.session() as session:
        results, errors = import_replies(session, file, now=parse_now(now_text),
                                         skip_invalid=skip_invalid)
    IMPORT_FORMATS[fmt](file, results, errors)
    if errors and not skip_invalid:
        return 1
    return 0


def register(group: click.Group) -> None:
    from campaign_gitops.cli.recipients_cmd import replies_fetch

    replies_group.add_command(replies_fetch)
    group.add_command(replies_group)
