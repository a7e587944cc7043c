"""``communications``: the messages written (``communications list``) and
``communications settle`` for the unknown ones."""

from __future__ import annotations

from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    campaign_scope,
    echo_json,
    format_option,
    listing,
    now_option,
    page_options,
    parse_now,
    pass_context,
)
from campaign_gitops.config.models import CHANNELS
from campaign_gitops.runs.settle import OUTCOMES
from campaign_gitops.state.queries import MESSAGE_STATUSES

MESSAGE_COLUMNS = ["id", "campaign", "run", "step", "channel", "recipient", "status",
                   "sent_at", "status_reason"]


def _communications_filters(func: Any) -> Any:
    for option in reversed((
            click.option("--run", "run_ref", help="Only this run (id or client/campaign/run)."),
            click.option("--status", type=click.Choice(MESSAGE_STATUSES),
                         help="Only this status."),
            click.option("--campaign", help="Only this campaign (name or client/name)."),
            click.option("--client", help="Only this client."),
            click.option("--channel", type=click.Choice(CHANNELS), help="Only this channel."),
            page_options, format_option)):
        func = option(func)
    return func


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
    from campaign_gitops.runs.queries import find_run
    from campaign_gitops.state.listings import communications_page, newest

    with ctx.session(create=False) as session:
        filters: dict[str, Any] = {**campaign_scope(session, campaign, client), "status": status,
                   "channel": channel,
                   "run": find_run(session, run_ref) if run_ref else None}
        rows, older = newest(lambda **page: communications_page(session, **filters, **page),
                             limit=limit, before=before)
    listing(rows, older, "communications", fmt, MESSAGE_COLUMNS, "no communications")
    return 0


@communications_command.command("settle")
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--as", "outcome", type=click.Choice(OUTCOMES), required=True,
              help="sent: it went out; failed: it did not (credit refunded); resend: send "
                   "it again (through the window, limits and gates).")
@click.option("--reason", required=True, help="Why you know (recorded in the audit log).")
@now_option()
@format_option
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
    if fmt == "json":
        echo_json({"settled": [r.as_json() for r in results]})
    else:
        for r in results:
            click.echo(f"message {r.message_id}: {r.status} ({r.reason})")
    if any(r.status == "unchanged" for r in results):
        return 1
    return 0


def register(group: click.Group) -> None:
    group.add_command(communications_command)
