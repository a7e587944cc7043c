"""``status [CAMPAIGN]``: campaigns as a manager sees them, with their sync state.

The sync state comes from a plan of the files against the database: Synced,
OutOfSync (apply would change it), Orphan (no file defines it), Unknown (its file
failed to load, or the files could not be read), Suspended.
``--format json``: ``{"halted": {...}, "campaigns": [{name, client, status, channel,
goal, segment, writer, reviewer, active_runs, sync, metrics: {total_leads,
leads_contacted, leads_replied, leads_converted, reply_rate, conversion_rate} (null for a
campaign not applied yet; rates are shares of the leads contacted, 0-1)}], "senders":
[{client, email, name, sent_today, daily_limit, max_per_hour, min_gap_seconds}]}``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    attention_lines,
    echo_json,
    format_option,
    now_option,
    parse_now,
    pass_context,
)
from campaign_gitops.findings import CampaignGitopsError

HEADERS = ("NAME", "CLIENT", "STATUS", "CHANNEL", "GOAL", "SEGMENT", "WRITER", "REVIEWER",
           "RUNS", "REPLY RATE", "SYNC")
SYNC_STYLE = {"Synced": "green", "OutOfSync": "yellow", "Orphan": "red", "Unknown": "magenta",
              "Suspended": "cyan"}


def _sync_and_pending(ctx: Context, db: Any) -> tuple[dict[str, str] | None, list[Any], str]:
    """The sync state of every resource, the plan's campaign changes, and a note."""
    from campaign_gitops.reconcile.plan import sync_states
    from campaign_gitops.reconcile.service import plan_repo

    try:
        _, plan = plan_repo(ctx.project, db, config=ctx.config)
    except CampaignGitopsError as exc:
        return None, [], f"sync unknown: {exc.message}"
    pending = [c for c in plan.changes if c.key.kind == "Campaign" and c.action == "create"]
    note = ""
    if plan.failed_files:
        note = f"{len(plan.failed_files)} file(s) failed to load: campaign-gitops lint"
    return sync_states(plan), pending, note


def _halts(db: Any) -> dict[str, Any]:
    from campaign_gitops.state import kv
    from campaign_gitops.state.queries import client_names

    with db.reading() as session:
        halted = kv.global_halt(session) is not None
        clients = client_names(session, halted=True)
    return {"global": halted, "clients": clients}


def _status_text(data: dict[str, Any], note: str) -> None:
    _print_table(data["campaigns"], data["halted"], note)
    _print_senders(data["senders"])
    attention_lines(data["attention"], indent="")


def _status_json(data: dict[str, Any], note: str) -> None:
    echo_json(data)


FORMATS = {"text": _status_text, "json": _status_json}


@click.command("status")
@click.argument("campaign", required=False)
@click.option("--client", help="Only this client's campaigns.")
@format_option(FORMATS)
@now_option("When today is, for the senders' use today and stuck messages (ISO 8601); "
            "default: the current time.")
@pass_context
def status_command(ctx: Context, campaign: str | None, client: str | None, fmt: str,
                   now_text: str | None) -> int:
    """Campaigns with status, channel, parts, active runs and sync state.

    \b
    Example:
      campaign-gitops status
      campaign-gitops status acme/cto-au-q1 --format json
      campaign-gitops status --client globex
    """
    from campaign_gitops.runs.policy import LEASE
    from campaign_gitops.runs.sender_use import sender_usage
    from campaign_gitops.runs.settle import attention
    from campaign_gitops.state.db import NoDatabaseError, open_database
    from campaign_gitops.state.queries import status_rows

    missing = ""
    try:
        db = ctx.open_db(create=False)
    except NoDatabaseError as exc:  # nothing applied yet: the files alone, nothing created
        missing = exc.message.replace(": nothing to show", "") + " (nothing applied)"
        db = open_database("sqlite://")  # empty, in memory
    try:
        sync, pending, note = _sync_and_pending(ctx, db)
        note = "; ".join(n for n in (missing, note) if n)
        with db.session() as session:
            rows = status_rows(session, sync, campaign=campaign, client=client)
            now = parse_now(now_text)
            needs = attention(session, now, lease=LEASE)
            senders = [u.as_json() for u in sender_usage(
                session, now, client=client or (
                    campaign.split("/", 1)[0] if campaign and "/" in campaign else None))]
        halted = _halts(db)
    finally:
        db.dispose()
    for change in pending:  # in the files, not yet applied
        key = change.key
        if (client and key.client != client) or (campaign and campaign not in (
                key.name, f"{key.client}/{key.name}")):
            continue
        rows.append({"name": key.name, "client": key.client, "status": None, "channel": None,
                     "goal": None, "segment": None, "writer": None, "reviewer": None,
                     "active_runs": 0, "sync": "OutOfSync", "metrics": None})
    if campaign and not rows:
        raise CampaignGitopsError(f"no campaign {campaign!r}", "campaign-gitops status lists them")
    FORMATS[fmt]({"halted": halted, "attention": needs, "campaigns": rows,
                  "senders": senders}, note)
    return 0


def _print_senders(senders: list[dict[str, Any]]) -> None:
    """Each client sender's emails today against its daily cap (SPEC 9)."""
    if not senders:
        return
    click.echo("senders today (sent/cap):")
    for u in senders:
        click.echo(f"  {u['client']:<12} {u['name']} <{u['email']}>  "
                   f"{u['sent_today']}/{u['daily_limit']}")


def _print_table(rows: list[dict[str, Any]], halted: dict[str, Any], note: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False,
                      width=None if sys.stdout.isatty() else 160)
    if halted["global"]:
        console.print("[bold red]HALTED[/]: all delivery is stopped (campaign-gitops resume)")
    if halted["clients"]:
        console.print(f"[red]halted clients[/]: {', '.join(halted['clients'])}")
    if not rows:
        console.print("no campaigns in the database (campaign-gitops apply creates them)")
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for header in HEADERS:
            table.add_column(header, no_wrap=True)
        for r in rows:
            sync = r["sync"]
            table.add_row(r["name"], r["client"], r["status"] or "-", r["channel"] or "-",
                          r["goal"] or "-", r["segment"] or "-", r["writer"] or "-",
                          r["reviewer"] or "-", str(r["active_runs"]),
                          _reply_rate(r.get("metrics")),
                          f"[{SYNC_STYLE.get(sync, 'white')}]{sync}[/]")
        console.print(table)
    if note:
        console.print(note)


def _reply_rate(metrics: dict[str, Any] | None) -> str:
    """``25.0% (1/4)``: replied leads of the leads contacted; ``-`` before any contact."""
    from campaign_gitops.runs.metrics import percent, reply_rate

    if not metrics or not metrics["leads_contacted"]:
        return "-"
    rate = reply_rate(metrics["leads_replied"], metrics["leads_contacted"])
    return f"{percent(rate)} ({metrics['leads_replied']}/{metrics['leads_contacted']})"


def register(group: click.Group) -> None:
    group.add_command(status_command)
