"""``communications``: the messages written (``communications list``) and
``communications settle`` for the unknown ones."""

from __future__ import annotations

import click

from campaign_gitops.cli.common import (
    Context,
    Listing,
    campaign_scope,
    format_option,
    newest_rows,
    now_option,
    parse_now,
    pass_context,
    results_formats,
    run_filter,
    unchanged_exit,
)
from campaign_gitops.config.models import CHANNELS
from campaign_gitops.runs.settle import OUTCOMES
from campaign_gitops.state.queries import MESSAGE_STATUSES

MESSAGE_COLUMNS = ["id", "campaign", "run", "step", "channel", "recipient", "status",
                   "sent_at", "status_reason"]
COMMUNICATIONS = Listing("communications", MESSAGE_COLUMNS, "no communications")
SETTLE_FORMATS = results_formats(
    "settled", lambda r: f"message {r.message_id}: {r.status} ({r.reason})")

_communications_filters = COMMUNICATIONS.options(
    click.option("--run", "run_ref", help="Only this run (id or client/campaign/run)."),
    click.option("--status", type=click.Choice(MESSAGE_STATUSES), help="Only this status."),
    click.option("--campaign", help="Only this campaign (name or client/name)."),
    click.option("--client", help="Only this client."),
    click.option("--channel", type=click.Choice(CHANNELS), help="Only this channel."))


@click.group("communications", invoke_without_command=True)
@_communications_filters
@click.pass_context
def communications_command(click_ctx: click.Context, run_ref: str | None, status: str | None,
                           campaign: str | None, client: str | None, channel: str | None,
                           limit: int, before: int | None, fmt: str) -> int:
    """Messages written, newest last (``communications settle`` for unknown ones).

    \b
    Example:
      campaign-gitops communications --campaign acme/cto-au-q1 --status failed
      campaign-gitops communications --status unknown
      campaign-gitops communications settle 41 --as sent --reason "in the relay's log"
    """
    if click_ctx.invoked_subcommand is None:
        return click_ctx.invoke(communications_list, run_ref=run_ref, status=status,
                                campaign=campaign, client=client, channel=channel, limit=limit,
                                before=before, fmt=fmt)
    return 0


@communications_command.command("list")
@_communications_filters
@pass_context
def communications_list(ctx: Context, run_ref: str | None, status: str | None,
                        campaign: str | None, client: str | None, channel: str | None,
                        limit: int, before: int | None, fmt: str) -> int:
    """Messages written, newest last: recipient, status and why.

    Shows the newest --limit messages (oldest of them first); a last line
    'older: --before ID' continues with older ones.

    \b
    Example:
      campaign-gitops communications list --campaign acme/cto-au-q1 --status failed
      campaign-gitops communications list --run acme/cto-au-q1/smoke-1 --format json
    """
    from campaign_gitops.state.listings import communications_page

    with ctx.session(create=False) as session:
        rows, older = newest_rows(session, communications_page, limit=limit, before=before,
                                  **campaign_scope(session, campaign, client), status=status,
                                  channel=channel, run=run_filter(session, run_ref))
    COMMUNICATIONS.formats[fmt](rows, older)
    return 0


@communications_command.command("settle")
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--as", "outcome", type=click.Choice(OUTCOMES), required=True,
              help="sent: it went out; failed: it did not (credit refunded); resend: send "
                   "it again (through the window, limits and gates).")
@click.option("--reason", required=True, help="Why you know (recorded in the audit log).")
@now_option()
@format_option(SETTLE_FORMATS)
@pass_context
def communications_settle(ctx: Context, ids: tuple[int, ...], outcome: str, reason: str,
                          now_text: str | None, fmt: str) -> int:
    """Settle unknown messages: ones that may have gone out (a crash mid-send, a timeout
    after the server took the message). Nothing sends them again by itself.

    Exit 1 when any ID was not unknown (left unchanged).

    \b
    Example:
      campaign-gitops communications --status unknown
      campaign-gitops communications settle 41 42 --as sent --reason "in the relay's log"
      campaign-gitops communications settle 43 --as resend --reason "relay has no record"
    """
    from campaign_gitops.runs.settle import settle

    with ctx.session() as session:
        results = settle(session, list(ids), outcome,  # type: ignore[arg-type]
                         reason=reason, now=parse_now(now_text))
    SETTLE_FORMATS[fmt](results)
    return unchanged_exit(results)


def register(group: click.Group) -> None:
    group.add_command(communications_command)
