"""``review``: the human reviewer's queue (``review list``, ``approve``, ``reject``)."""

from __future__ import annotations

from collections.abc import Callable

import click

from campaign_gitops.cli.common import (
    Context,
    Listing,
    format_option,
    now_option,
    parse_now,
    pass_context,
    results_formats,
    unchanged_exit,
)

PENDING = Listing("pending", ["id", "client", "campaign", "run", "step", "channel",
                              "recipient", "subject"], "nothing to review", paged=False)
DECISION_FORMATS = results_formats(
    "decisions", lambda r: f"message {r.message_id}: {r.status}"
    + (f" ({r.reason})" if r.status == "unchanged" else ""))


@click.group("review")
def review_group() -> None:
    """The human reviewer's queue (messages pending_review).

    \b
    Example:
      campaign-gitops review list --campaign acme/pilot-renewals
      campaign-gitops review approve 12 13     # IDs from `review list`
    """


@review_group.command("list")
@PENDING.options(
    click.option("--campaign", help="Only this campaign (name or client/name)."))
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
    PENDING.formats[fmt](rows)
    return 0


def _decide_command(approve: bool) -> Callable[..., int]:
    @click.argument("ids", nargs=-1, required=True, type=int)
    @click.option("--reason", default="", help="Recorded with the decision.")
    @now_option()
    @format_option(DECISION_FORMATS)
    @pass_context
    def command(ctx: Context, ids: tuple[int, ...], reason: str, now_text: str | None,
                fmt: str) -> int:
        from campaign_gitops.runs.review import decide

        now = parse_now(now_text)
        with ctx.session() as session:
            results = decide(session, list(ids), approve=approve, now=now, reason=reason)
        DECISION_FORMATS[fmt](results)
        return unchanged_exit(results)

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
