"""``review``: the human reviewer's queue (``review list``, ``approve``, ``reject``)."""

from __future__ import annotations

from collections.abc import Callable

import click

from campaign_gitops.cli.common import (
    Context,
    echo_json,
    format_option,
    now_option,
    parse_now,
    pass_context,
    table,
)


@click.group("review")
def review_group() -> None:
    """The human reviewer's queue (messages pending_review).

    \b
    Example:
      campaign-gitops review list --campaign acme/pilot-renewals
      campaign-gitops review approve 12 13     # IDs from `review list`
    """


@review_group.command("list")
@click.option("--campaign", help="Only this campaign (name or client/name).")
@format_option
@pass_context
def review_list(ctx: Context, campaign: str | None, fmt: str) -> int:
    """Messages waiting for a decision.

    \b
    Example:
      campaign-gitops review list --format json
    """
    from campaign_gitops.runs.replies import campaign_ids
    from campaign_gitops.runs.review import pending

    with ctx.session(create=False) as session:
        rows = pending(session, campaign_ids(session, campaign) if campaign else None)
    if fmt == "json":
        echo_json({"pending": rows})
    else:
        table(rows, ["id", "client", "campaign", "run", "step", "channel", "recipient",
                      "subject"], "nothing to review")
    return 0


def _decide_command(approve: bool) -> Callable[..., int]:
    @click.argument("ids", nargs=-1, required=True, type=int)
    @click.option("--reason", default="", help="Recorded with the decision.")
    @now_option()
    @format_option
    @pass_context
    def command(ctx: Context, ids: tuple[int, ...], reason: str, now_text: str | None,
                fmt: str) -> int:
        from campaign_gitops.runs.review import decide

        now = parse_now(now_text)
        with ctx.session() as session:
            results = decide(session, list(ids), approve=approve, now=now, reason=reason)
        if fmt == "json":
            echo_json({"decisions": [r.as_json() for r in results]})
        else:
            for r in results:
                click.echo(f"message {r.message_id}: {r.status}"
                           + (f" ({r.reason})" if r.status == "unchanged" else ""))
        if any(r.status == "unchanged" for r in results):
            return 1
        return 0

    return command


review_group.command("approve", help="Approve messages: the next tick delivers them.\n\n"
                     "\b\nExample:\n  campaign-gitops review approve 12 13 "
                     "--reason \"checked the tone\"")(
    _decide_command(True))
review_group.command("reject", help="Reject messages: recorded, never delivered.\n\n"
                     "\b\nExample:\n  campaign-gitops review reject 14 "
                     "--reason \"wrong product name\"")(
    _decide_command(False))


def register(group: click.Group) -> None:
    group.add_command(review_group)
